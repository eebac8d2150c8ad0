"""`bulletin preview`: a local page showing the issue at phone and desktop width and its text part, reloaded
when a file of the issue or a template changes. Local only; the public web service is `bulletin serve`."""

from __future__ import annotations

import html
import json
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import watchfiles

from bulletin.config import Config
from bulletin.errors import BulletinError, ContentError
from bulletin.render.build import local_copy, preview_values
from bulletin.render.edition import RenderedEdition
from bulletin.render.images import icon_path, publish_image
from bulletin.render.pipeline import TEMPLATES_DIR, render_issue

PHONE_WIDTH = 375
DESKTOP_WIDTH = 1024

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Preview: {slug}</title>
<style>
 body {{ font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #e9ecef; color: #1d2b33; }}
 header {{ padding: 10px 16px; background: #1d2b33; color: #fff; }}
 header a {{ color: #9fd3dc; margin-right: 12px; }}
 .error {{ margin: 16px; padding: 12px 16px; background: #fdecea; border: 1px solid #c8402f; white-space: pre-wrap; }}
 .frames {{ display: flex; gap: 24px; padding: 16px; align-items: flex-start; overflow-x: auto; }}
 figure {{ margin: 0; }} figcaption {{ font-weight: bold; margin-bottom: 6px; }}
 iframe {{ border: 1px solid #b8c2c8; background: #fff; height: 80vh; }}
 pre {{ background: #fff; border: 1px solid #b8c2c8; padding: 12px; width: 560px; height: 80vh; overflow: auto;
        white-space: pre-wrap; margin: 0; }}
</style></head><body>
<header><strong>{slug}</strong> &middot; {subject} &middot; editions: {links}</header>
{body}
<script>
  // Reload when the issue or a template changes on disk.
  const seen = {version};
  setInterval(async () => {{
    try {{ const r = await fetch('/version'); if ((await r.json()).version !== seen) location.reload(); }} catch (e) {{}}
  }}, 700);
</script></body></html>"""


class Preview:
    """The issue rendered afresh after each change on disk; the last error instead when it does not build."""

    def __init__(self, issue_dir: Path, cfg: Config, templates_dir: Path | None = None):
        self.issue_dir = Path(issue_dir)
        self.cfg = cfg
        self.templates_dir = Path(templates_dir) if templates_dir else TEMPLATES_DIR
        self.version = 0
        self._lock = threading.Lock()
        self._rendered_version = -1
        self._editions: list[RenderedEdition] = []
        self._error: str | None = None

    def changed(self) -> None:
        with self._lock:
            self.version += 1

    def editions(self) -> tuple[list[RenderedEdition], str | None]:
        with self._lock:
            if self._rendered_version != self.version:
                try:
                    self._editions, self._error = render_issue(self.issue_dir, self.cfg, templates_dir=self.templates_dir), None
                except BulletinError as e:
                    self._editions, self._error = [], str(e)
                self._rendered_version = self.version
            return self._editions, self._error

    def page(self, lang: str | None) -> str:
        editions, error = self.editions()
        version = self.version
        slug = self.issue_dir.resolve().name
        if error:
            return _PAGE.format(slug=html.escape(slug), subject="", links="", version=version,
                                body=f'<div class="error">error: {html.escape(error)}</div>')
        ed = next((e for e in editions if e.language == lang), editions[0])
        links = " ".join(f'<a href="/?lang={e.language}">{e.language}</a>' for e in editions)
        body = (
            '<div class="frames">'
            f'<figure><figcaption>Phone ({PHONE_WIDTH} px)</figcaption>'
            f'<iframe title="phone" src="/{ed.language}.html" width="{PHONE_WIDTH}"></iframe></figure>'
            f'<figure><figcaption>Desktop ({DESKTOP_WIDTH} px)</figcaption>'
            f'<iframe title="desktop" src="/{ed.language}.html" width="{DESKTOP_WIDTH}"></iframe></figure>'
            f'<figure><figcaption>Text part</figcaption><pre>{html.escape(self.text(ed))}</pre></figure></div>'
        )
        return _PAGE.format(slug=html.escape(slug), subject=html.escape(ed.subject), links=links,
                            version=version, body=body)

    def edition(self, lang: str) -> RenderedEdition | None:
        editions, _error = self.editions()
        return next((e for e in editions if e.language == lang), None)

    def html(self, ed: RenderedEdition) -> str:
        return local_copy(ed, self.cfg, images="/images/", icons="/icons/")[0]  # no `bulletin serve` needed

    def text(self, ed: RenderedEdition) -> str:
        return ed.personalise(preview_values(self.cfg, ed.slug))[1]


def _handler(preview: Preview) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = unquote(url.path)
            if path == "/":
                lang = dict(p.split("=", 1) for p in url.query.split("&") if "=" in p).get("lang")
                return self._send(preview.page(lang).encode(), "text/html; charset=utf-8")
            if path == "/version":
                return self._send(json.dumps({"version": preview.version}).encode(), "application/json")
            if path.startswith("/images/"):
                try:
                    data, ctype = publish_image(preview.issue_dir, path.removeprefix("/images/"))
                except ContentError as e:
                    return self._send(str(e).encode(), "text/plain; charset=utf-8", HTTPStatus.NOT_FOUND)
                return self._send(data, ctype)
            if path.startswith("/icons/"):
                try:
                    data = icon_path(preview.templates_dir, path.removeprefix("/icons/")).read_bytes()
                except ContentError as e:
                    return self._send(str(e).encode(), "text/plain; charset=utf-8", HTTPStatus.NOT_FOUND)
                return self._send(data, "image/png")
            stem, dot, ext = path.lstrip("/").rpartition(".")
            ed = preview.edition(stem) if dot and ext in ("html", "txt") else None
            if ed is None:
                return self._send(b"not found", "text/plain", HTTPStatus.NOT_FOUND)
            if ext == "html":
                return self._send(preview.html(ed).encode(), "text/html; charset=utf-8")
            return self._send(preview.text(ed).encode(), "text/plain; charset=utf-8")

        def _send(self, body: bytes, ctype: str, status: HTTPStatus = HTTPStatus.OK) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # keep the terminal for errors
            pass

    return Handler


class PreviewServer:
    """The preview's HTTP server and its file watcher; `start()` runs both in background threads."""

    def __init__(self, issue_dir: Path, cfg: Config, host: str = "127.0.0.1", port: int = 8025,
                 templates_dir: Path | None = None):
        issue_dir = Path(issue_dir)
        if not issue_dir.is_dir():
            raise ContentError("issue folder not found", where=issue_dir)
        self.preview = Preview(issue_dir, cfg, templates_dir)
        try:
            self.httpd = ThreadingHTTPServer((host, port), _handler(self.preview))
        except OSError as e:
            raise ContentError(f"cannot listen on {host}:{port}: {e.strerror}", where="--port")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def _watch(self) -> None:
        paths = [self.preview.issue_dir, self.preview.templates_dir]
        for _changes in watchfiles.watch(*paths, stop_event=self._stop, debounce=200, step=50,
                                         rust_timeout=500, yield_on_timeout=False):
            self.preview.changed()

    def start(self) -> None:
        self.preview.editions()  # first render before the first request
        for target in (self.httpd.serve_forever, self._watch):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)


def serve_preview(issue_dir: Path, cfg: Config, host: str = "127.0.0.1", port: int = 8025,
                  templates_dir: Path | None = None) -> None:
    server = PreviewServer(issue_dir, cfg, host, port, templates_dir)
    server.start()
    print(f"Preview of {issue_dir} at {server.url} (Ctrl-C to stop)", file=sys.stderr)
    try:
        threading.Event().wait()
    finally:
        server.stop()
