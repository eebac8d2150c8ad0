"""The public archive: the issues that were sent, as web pages, and the images they refer to."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from bulletin.errors import BulletinError, NotFoundError
from bulletin.web import published
from bulletin.web.i18n import Strings
from bulletin.web.site import Site, get_site

router = APIRouter()

#: An image name as the email refers to it: one path segment, no hidden files.
IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


@router.get("/archive")
def archive_index(request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    t = Strings(site.language(request, lang))
    with site.session() as session:
        issues = published.archived_issues(session, t.language)
    response = site.pages.render("archive.html", t.language, title=t("archive.title"), issues=issues)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@router.get("/archive/{slug}")
def archive_issue(slug: str, request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    with site.session() as session:
        send = published.latest_send(session, slug)
        if send is None:
            raise NotFoundError("no such issue in the archive")
        language, html = published.web_copy(
            send, site.language(request, lang),
            archive_url=site.url(f"/archive/{slug}"), subscribe_url=site.url("/subscribe"),
        )
    return HTMLResponse(html, headers={"Content-Language": language, "Cache-Control": "public, max-age=300",
                                       "Vary": "Accept-Language"})


@router.get("/archive/{slug}/images/{name}")
def archive_image(slug: str, name: str, site: Site = Depends(get_site)):
    if not IMAGE_NAME.match(name) or ".." in name:
        raise NotFoundError("no such image")
    with site.session() as session:
        send = published.latest_send(session, slug)
        if send is None:
            raise NotFoundError("no such issue in the archive")
        issue_dir = send.issue_dir
    from bulletin.render.images import publish_image

    try:
        image = publish_image(Path(issue_dir), name)
    except (BulletinError, FileNotFoundError, LookupError):
        raise NotFoundError("no such image")
    if image is None:
        raise NotFoundError("no such image")
    headers = {"Cache-Control": "public, max-age=86400"}
    if isinstance(image, (str, Path)):
        return FileResponse(image, headers=headers)
    data, media_type = image
    return Response(data, media_type=media_type, headers=headers)
