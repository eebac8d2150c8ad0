"""The social icons the email footer shows, served from the organisation's own address (never a third party's,
which would see every reader who opens a message)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from bulletin.errors import BulletinError, NotFoundError
from bulletin.render.images import icon_path
from bulletin.render.pipeline import TEMPLATES_DIR

router = APIRouter()


@router.get("/email/icons/{name}")
def email_icon(name: str):
    try:
        data = icon_path(TEMPLATES_DIR, name).read_bytes()  # refuses ../ and anything but a file of templates/icons
    except (BulletinError, OSError):
        raise NotFoundError("no such icon")
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=604800"})
