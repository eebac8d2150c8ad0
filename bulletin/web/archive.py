"""The public archive: the issues that were sent, as web pages, and the images they refer to."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from bulletin.services import archive
from bulletin.web.security import allow_inline_styles
from bulletin.web.site import Site, get_site

router = APIRouter()


@router.get("/archive")
def archive_index(request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    t = site.strings(site.language(request, lang))
    with site.store.unit_of_work() as uow:
        issues = archive.archived_issues(uow, t.language)
    response = site.pages.render("archive.html", t.language, title=t("archive.title"), issues=issues)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Vary"] = "Accept-Language"
    return response


@router.get("/archive/{slug}")
def archive_issue(slug: str, request: Request, lang: str | None = None, site: Site = Depends(get_site)):
    with site.store.unit_of_work() as uow:
        copy = archive.web_copy(uow, slug, site.language(request, lang), archive_url=site.url(f"/archive/{slug}"),
                                subscribe_url=site.url("/subscribe"))
    allow_inline_styles(request)  # the email's own style attributes; scripts stay forbidden
    return HTMLResponse(copy.html, headers={"Content-Language": copy.language, "Cache-Control": "public, max-age=300",
                                            "Vary": "Accept-Language"})


@router.get("/archive/{slug}/images/{name}")
def archive_image(slug: str, name: str, site: Site = Depends(get_site)):
    with site.store.unit_of_work() as uow:
        folder = archive.issue_folder(uow, slug)
    data, media_type = archive.image(folder, name)
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
