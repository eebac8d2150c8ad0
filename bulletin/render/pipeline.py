"""The composition pipeline, once per edition: content -> Jinja (MJML) -> mjml-python -> premailer, and the
plain-text part. Per-recipient values stay `%%markers%%` so delivery never runs any of this again."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from bulletin.config import Config
from bulletin.content import EditionContent, Image, Issue, Problem, Severity, load_issue
from bulletin.errors import RenderError
from bulletin.i18n import Message
from bulletin.render import markdown, plaintext
from bulletin.render.assets import social_links
from bulletin.render.edition import RenderedEdition
from bulletin.render.images import image_url
from bulletin.render.inline import inline_css
from bulletin.render.labels import issue_month, labels_for
from bulletin.render.mjml import compile_mjml

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
HTML_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
#: Gmail clips a message whose HTML is over about 102 KB and hides the rest, footer and unsubscribe link included.
HTML_LIMIT = 100_000
#: Gmail drops a whole <style> block over 16 KB.
STYLE_LIMIT = 16 * 1024
#: A recipient's unsubscribe and archive URLs replace the markers; size checks count them at this length.
PERSONAL_URL_ALLOWANCE = 160
STAGES = ("load", "jinja", "mjml", "inline", "text")


def render_issue(issue_dir: Path, cfg: Config, *, timings: dict[str, float] | None = None,
                 templates_dir: Path | None = None) -> list[RenderedEdition]:
    """Every edition of the issue in `issue_dir`, primary language first.

    Raises ContentError for a bad issue folder and RenderError for a template that fails, both with file and
    line. `timings`, when given, receives the seconds spent in each stage (summed over editions).
    """
    clock = _Clock(timings)
    with clock("load"):
        issue = load_issue(Path(issue_dir), cfg)
    return [render_edition(issue, lang, cfg, clock=clock, templates_dir=templates_dir) for lang in issue.languages]


def render_edition(issue: Issue, language: str, cfg: Config, *, clock: _Clock | None = None,
                   templates_dir: Path | None = None) -> RenderedEdition:
    clock = clock or _Clock(None)
    tdir = Path(templates_dir or TEMPLATES_DIR)
    env = _environment(str(tdir))
    content = issue.edition(language)
    context = _context(issue, content, cfg)
    with clock("jinja"):
        mjml_source = _render_template(env, HTML_TEMPLATE, context)
    with clock("mjml"):
        compiled = compile_mjml(mjml_source, tdir, where=str(tdir / HTML_TEMPLATE))
    with clock("inline"):
        html = inline_css(compiled)
    with clock("text"):
        text = _render_template(env, TEXT_TEMPLATE, {**context, "rule": "-" * plaintext.WIDTH})
        text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    problems = size_problems(html, str(issue.path), content.language)
    return RenderedEdition(slug=issue.slug, language=content.language, subject=content.subject,
                           preheader=content.preheader, html=html, text=text, warnings=tuple(problems))


def recipient_size(html: str) -> int:
    """The bytes of a recipient's copy of `html`: markers counted at the length of real URLs."""
    return len(re.sub(r"%%\w+%%", "x" * PERSONAL_URL_ALLOWANCE, html).encode("utf-8"))


def size_problems(html: str, where: str, language: str) -> list[Problem]:
    """Gmail's limits, counted as a recipient's copy will be. Over the clip the unsubscribe link is hidden: an
    error; a <style> block Gmail drops leaves the inlined styles: a warning."""
    out = []
    size = recipient_size(html)
    if size > HTML_LIMIT:
        out.append(Problem(Severity.ERROR, Message("check.html.clipped", language=language, size=f"{size:,}",
                                                   limit=f"{HTML_LIMIT:,}"),
                           where, hint=Message("hint.html.shorter")))
    for m in re.finditer(r"<style[^>]*>(.*?)</style>", html, re.S | re.I):
        style = len(m.group(1).encode("utf-8"))
        if style > STYLE_LIMIT:
            out.append(Problem(Severity.WARNING, Message("check.html.style", language=language, size=f"{style:,}",
                                                         limit=f"{STYLE_LIMIT:,}"), where))
    return out


def size_warnings(html: str, where: str) -> list[str]:
    """`size_problems` as `WHERE: WHAT` lines."""
    return [p.text() for p in size_problems(html, where, "")]


# -- template context ---------------------------------------------------------------------------------------
def _context(issue: Issue, content: EditionContent, cfg: Config) -> dict:
    base = cfg.web.base_url
    org = cfg.organisation

    def image_src(image: Image | None) -> str:
        if image is None:
            return ""
        return image_url(base, issue.slug, image.name) if image.file else image.src

    def body_image(src: str) -> str:
        if urlsplit(src).scheme:
            return src
        return image_url(base, issue.slug, PurePosixPath(src).name)

    def body(md_text: str) -> tuple[Markup, str]:
        return Markup(markdown.to_html(md_text, body_image)), plaintext.markdown_to_text(md_text)

    news = []
    for block in content.news:
        body_html, body_text = body(block.body)
        news.append({
            "anchor": block.anchor, "title": block.title, "place": block.place, "facts": block.facts,
            "image_src": image_src(block.image), "image_alt": block.image.alt if block.image else "",
            "link": block.link, "link_label": block.link_label, "body_html": body_html, "body_text": body_text,
        })
    director = None
    if content.director:
        d = content.director
        body_html, body_text = body(d.body)
        director = {"title": d.title, "name": d.name, "role": d.role, "photo_src": image_src(d.photo),
                    "photo_alt": d.photo.alt if d.photo else "", "body_html": body_html, "body_text": body_text}
    highlights = None
    if content.highlights:
        body_html, body_text = body(content.highlights.body)
        highlights = {"title": content.highlights.title, "body_html": body_html, "body_text": body_text}
    logo = org.logo
    if logo and not urlsplit(logo).scheme:
        logo = f"{base}/{logo.lstrip('/')}"
    social = social_links(cfg)
    return {
        "language": content.language, "subject": content.subject, "preheader": content.preheader,
        "labels": labels_for(content.language, cfg.organisation.language), "month": issue_month(issue.date, content.language),
        "org": org, "logo_url": logo, "social": social,
        "website_label": re.sub(r"^https?://", "", org.website).rstrip("/"),
        "news": news, "director": director, "highlights": highlights, "slug": issue.slug,
    }


# -- Jinja -----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _environment(templates_dir: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=lambda name: bool(name) and not name.endswith(".txt.j2"),
        undefined=jinja2.StrictUndefined,  # a misspelt variable is an error, not a silent blank
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = plaintext.wrap
    env.filters["underline"] = plaintext.underline
    return env


def _render_template(env: jinja2.Environment, name: str, context: dict) -> str:
    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as e:
        raise RenderError(f"template error: {e.message}", where=e.filename or name, line=e.lineno)
    except jinja2.TemplateNotFound as e:
        raise RenderError(f"template not found: {e.name}", where=env.loader.searchpath[0])  # type: ignore[union-attr]
    except jinja2.TemplateError as e:
        where, line = _template_frame(e)
        raise RenderError(f"template error: {e}", where=where or name, line=line)


def _template_frame(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost template file and line in a Jinja traceback (Jinja maps its frames to template lines)."""
    where = line = None
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".j2"):
            where, line = filename, tb.tb_lineno
        tb = tb.tb_next
    return where, line


class _Clock:
    def __init__(self, timings: dict[str, float] | None):
        self.timings = timings

    @contextmanager
    def __call__(self, stage: str):
        if self.timings is None:
            yield
            return
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


__all__ = ["render_issue", "render_edition", "size_problems", "size_warnings", "recipient_size", "TEMPLATES_DIR", "STAGES"]
