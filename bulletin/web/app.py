"""The web application of `bulletin serve`: unsubscribe, subscribe, archive and health pages, and the
workspace under /admin/ (bulletin/web/admin).

Domain errors become pages here: a bad or foreign token is a plain 400 page and an unknown thing is a 404
page, in the browser's language, revealing nothing about who is subscribed.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bulletin.config import Config
from bulletin.errors import NotFoundError, TokenError
from bulletin.web import admin, archive, icons, media, subscribe, unsubscribe
from bulletin.web.security import SecurityHeaders, shipped_styles
from bulletin.web.site import Site

log = logging.getLogger(__name__)


def _error_page(request: Request, status: int, title_key: str, line_key: str):
    site: Site = request.app.state.site
    t = site.strings(site.language(request, request.query_params.get("lang")))
    return site.pages.render("message.html", t.language, status, title=t(title_key), lines=[t(line_key)], error=True)


def create_app(cfg: Config) -> FastAPI:
    app = FastAPI(title=cfg.organisation.short_name or cfg.organisation.name, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.site = Site.for_config(cfg)
    app.include_router(unsubscribe.router)
    app.include_router(subscribe.router)
    app.include_router(archive.router)
    app.include_router(icons.router)
    app.include_router(media.router)
    admin.install(app)

    @app.exception_handler(TokenError)
    def bad_token(request: Request, exc: TokenError):
        return _error_page(request, 400, "error.title", "error.token")

    @app.exception_handler(NotFoundError)
    def not_found(request: Request, exc: NotFoundError):
        return _error_page(request, 404, "error.not_found.title", "error.not_found")

    @app.exception_handler(HTTPException)
    def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            return _error_page(request, 404, "error.not_found.title", "error.not_found")
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError):
        # A path no record can have (an id too large for the database, a word for a number) names nothing.
        in_path = exc.errors() and all(e.get("loc", ("",))[0] == "path" for e in exc.errors())
        return _error_page(request, 404 if in_path else 400, "error.not_found.title", "error.not_found")

    @app.get("/healthz")
    def healthz():
        if not app.state.site.store.healthy():
            log.error("health check: database unreachable")
            return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
        return {"status": "ok"}

    # Security headers on every response: pages, images, errors, and the routes added later (web/security.py).
    app.add_middleware(SecurityHeaders, form_action=cfg.web.base_url, styles=shipped_styles())
    return app
