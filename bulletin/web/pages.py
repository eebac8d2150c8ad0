"""Rendering the pages: one Jinja2 environment, the organisation and the language's strings in every page."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bulletin.config import Config
from bulletin import i18n
from bulletin.web.i18n import Strings

TEMPLATES = Path(__file__).parent / "templates"


class Pages:
    """Renders the templates of bulletin/web/templates for one configuration."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(org=cfg.organisation, base_url=cfg.web.base_url, logo=self.logo_url(),
                                language_name=i18n.language_name)

    def logo_url(self) -> str:
        logo = self.cfg.organisation.logo
        if not logo or logo.startswith(("http://", "https://", "data:")):
            return logo
        return f"{self.cfg.web.base_url}/{logo.lstrip('/')}"

    def render(self, name: str, language: str, status_code: int = 200, **context) -> HTMLResponse:
        t = Strings(language, self.cfg.organisation.language)
        html = self.env.get_template(name).render(t=t, lang=t.language, **context)
        # Pages hold personal addresses and one-time links: no shared cache may keep them. The security headers
        # are the middleware's (web/security.py).
        headers = {"Cache-Control": "no-store"}
        return HTMLResponse(html, status_code=status_code, headers=headers)
