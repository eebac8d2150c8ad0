"""Published images and icons (`/media/HASH.EXT`): the bytes a message was sent with, for ever. The address
names the content, so browsers and mail proxies may keep it as long as they like."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from bulletin.services import archive
from bulletin.web.site import Site, get_site

router = APIRouter()


@router.api_route("/media/{name}", methods=["GET", "HEAD"])
def media(name: str, site: Site = Depends(get_site)):
    with site.store.unit_of_work() as uow:
        data, media_type, digest = archive.media(uow, name)
    return Response(data, media_type=media_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable", "ETag": f'"{digest}"'})
