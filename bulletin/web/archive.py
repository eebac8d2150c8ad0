"""The public archive: the issues that were sent, as web pages, and the images they refer to."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bulletin.errors import BulletinError, NotFoundError
from bulletin.render.images import image_path, publish_image
from bulletin.web import published
from bulletin.web.i18n import Strings
from bulletin.web.security import allow_inline_styles
from bulletin.web.site import Site, get_site

router = APIRouter()

#: Scaled images kept in memory, so that a page opened by many readers is not recompressed for each one.
_IMAGE_CACHE_SIZE = 64


@lru_cache(maxsize=_IMAGE_CACHE_SIZE)
def _published(issue_dir: str, name: str, _mtime_ns: int, _size: int) -> tuple[bytes, str]:
    # The file's time and size are part of the key: an image replaced on disk is served anew.
    return publish_image(Path(issue_dir), name)


@router.get("/archive")
def archive_index(request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    t = Strings(site.language(request, lang))
    with site.session() as session:
        issues = published.archived_issues(session, t.language)
    response = site.pages.render("archive.html", t.language, title=t("archive.title"), issues=issues)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Vary"] = "Accept-Language"
    return response


@router.get("/archive/{slug}")
def archive_issue(slug: str, request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    with site.session() as session:
        send = published.latest_send(session, slug)
        if send is None:
            raise NotFoundError("no such issue in the archive")
        language, html = published.web_copy(
            session, send, site.language(request, lang),
            archive_url=site.url(f"/archive/{slug}"), subscribe_url=site.url("/subscribe"),
        )
    allow_inline_styles(request)  # the email's own style attributes; scripts stay forbidden
    return HTMLResponse(html, headers={"Content-Language": language, "Cache-Control": "public, max-age=300",
                                       "Vary": "Accept-Language"})


@router.get("/archive/{slug}/images/{name}")
def archive_image(slug: str, name: str, site: Site = Depends(get_site)):
    with site.session() as session:
        send = published.latest_send(session, slug)
        if send is None:
            raise NotFoundError("no such issue in the archive")
        issue_dir = send.issue_dir
    try:
        path = image_path(Path(issue_dir), name)  # refuses ../, subfolders and missing files
        stat = path.stat()
        data, media_type = _published(issue_dir, name, stat.st_mtime_ns, stat.st_size)
    except (BulletinError, OSError):
        raise NotFoundError("no such image")
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
