"""The web workspace under /admin/: accounts sign in, admins and editors work in the browser.

How to add a page (the lists, subscribers, imports and issue pages are built this way):

1. Route and role. In a module of this package, declare each route with `access.page`:

       from bulletin.web.admin.access import Visit, page, visit, workspace
       from bulletin.web.admin.views import redirect, render

       @page("/lists", role=Role.ADMIN)                       # who may open it: Role.ADMIN, Role.EDITOR, PUBLIC
       def lists_index(request: Request, v: Visit = Depends(visit)):
           ...
           return render(request, "lists.html", "admin.lists.title", rows=rows)

       @page("/lists", role=Role.ADMIN, methods=("POST",))
       def add_list(request: Request, slug: str = Form(""), v: Visit = Depends(visit)):
           ...
           return redirect("/admin/lists?done=added")

   `role` is required: a page cannot forget it, and `install` refuses to start with an /admin route declared
   any other way. Import the module in `PAGES` below. `v.account` is who asks, `v.now` the time (tests move
   the clock), `v.actor` what the audit log records. Editor < admin: `Role.EDITOR` lets both in.
   Then add the page's sample path parameters to tests/admin_support.py (`SAMPLE_PARAMS`): the tests walk every
   declared route as an anonymous visitor, an editor and without CSRF tokens.
2. Templates go in bulletin/web/templates/admin/, extending "admin/layout.html" (block `content`; the page's
   <h1> is its title). No inline <script>, no inline style, no on* attributes: the Content-Security-Policy
   forbids them. Styles go in bulletin/web/static/admin.css. Live parts use htmx attributes (hx-get,
   hx-trigger="every {{ refresh }}s") on a fragment route declared with `live=True` (a poll does not keep the
   session alive), and `render(..., live=True)` loads htmx; the page must work without it (a reload link).
   Add the page to `views.NAV` if it belongs in the navigation.
3. CSRF. Every form that POSTs carries `<input type="hidden" name="csrf" value="{{ csrf }}">`; htmx requests
   send the `X-CSRF-Token` header (set on <body>). The guard checks it before the handler runs: a POST
   without it is a 403 and changes nothing. Bodies are capped before they are read (limits.py): a form at
   1 MB; a page that takes a file declares `upload=True`, takes no Form/File parameters and reads
   `await request.form()` itself, so that the guard refuses a visitor or an editor before the file is read
   (imports.py does so). Never change anything on GET.
4. Destructive actions (erase, disable, cancel, archive) go behind a confirmation page: a GET that renders
   "admin/confirm.html" with the question, and the POST that acts. After a POST, `redirect` (303) to a page
   that shows the result (`?done=KEY` with a catalogue key `admin.done.KEY`).
5. Rules and audit. The handler only parses the form and calls a service (bulletin/services); the service
   changes the data and writes the audit entry in the same transaction (`services.audit.record`, with a new
   `Action` member and its key `admin.audit.action.VALUE`). Refusals of what was typed are
   `services.errors.InputRefused` with an `i18n.Message`: show it next to the field it names.
6. Words. Every word goes through the catalogue: `t(KEY)` in templates (`t("admin.nav.sends")`), keys added to both
   bulletin/locale/fr and en .po files, sorted. Dates and numbers through `f.when(...)` and `f.num(...)`.
7. Tests: the browser tests (tests/test_admin_browser.py) show how to sign in, take screenshots at 375 and
   1280 px and run axe-core on a page; add the new pages to `PAGES_TO_CHECK` there (or run `check` on them
   in a browser test of their own, as tests/test_editor_browser.py does for the issue pages).
8. Files. FastAPI reads a form, files and all, before any handler runs: a page that takes files declares its
   route with `upload=True`: web/bodylimit.py caps its body at `[web].upload_max_mb` (any other form at
   `limits.FORM_MAX`) before it is read.
"""

from __future__ import annotations

import importlib

from fastapi import FastAPI, Request

from bulletin.services.accounts import SessionPolicy
from bulletin.services.imports import ImportRunner
from bulletin.web.admin import access
from bulletin.web.admin.access import Forbidden, SignInRequired, Workspace, router
from bulletin.web.admin.charts import bars_svg
from bulletin.web.admin.limits import limits, takes_files
from bulletin.web.bodylimit import BodyLimit

#: The modules that declare pages, imported with this package so that their routes are in the table.
PAGES = ("login", "dashboard", "issues", "sends", "lists", "subscribers", "imports", "users", "audit")
for _name in PAGES:
    importlib.import_module(f"bulletin.web.admin.{_name}")

__all__ = ["install", "router", "bars_svg"]


def install(app: FastAPI) -> None:
    """Add the workspace to the app: its routes, its state, and its answers to visitors who may not pass."""
    site = app.state.site
    ws = Workspace(site, SessionPolicy.for_config(site.cfg), site.cfg.signing_secret())
    ws.imports = ImportRunner(site.store, site.cfg, clock=lambda: ws.clock())
    app.state.workspace = ws
    app.include_router(router)
    access.check_routes(app)

    from bulletin.web.admin.views import redirect, render, strings

    upload = takes_files()

    def too_large(request: Request, size: int | None, cap: int):
        from babel.numbers import format_decimal

        t = strings(request)
        path = request.url.path
        mb = format_decimal(cap / 1_000_000, format="#,##0.#", locale=t.language)
        if size is None:
            lines = [t("admin.too_large.over", limit=mb)]
        else:
            said = format_decimal(size / 1_000_000, format="#,##0.0", locale=t.language)
            lines = [t("admin.too_large", size=said, limit=mb)]
        if upload(path):  # how to send less: a lighter photo for an issue, a smaller file for an import
            photo = path.startswith(f"{access.PREFIX}/issues/")
            lines.append(t("admin.too_large.how" if photo else "admin.too_large.how_file"))
        back = path if upload(path) else f"{access.PREFIX}/"
        return render(request, "message.html", "admin.too_large.title", status=413, error=True, lines=lines, back=back)

    # Forms and files are capped before FastAPI reads (and spools) them: a route declared with upload=True
    # (an issue's photos, a subscriber file) at [web].upload_max_mb, any other form at limits.FORM_MAX.
    app.add_middleware(BodyLimit, limit=limits(site.cfg), too_large=too_large)

    @app.exception_handler(SignInRequired)
    def sign_in_first(request: Request, exc: SignInRequired):
        response = redirect(access.sign_in_location(exc.next_path))
        if request.headers.get("hx-request"):  # a live part whose session ended: the whole page goes
            response.headers["HX-Redirect"] = access.sign_in_location("/admin/")
        return response

    @app.exception_handler(Forbidden)
    def forbidden(request: Request, exc: Forbidden):
        key = "admin.forbidden.csrf" if exc.csrf else "admin.forbidden.role"
        return render(request, "message.html", "admin.forbidden.title", status=403, lines=[strings(request)(key)],
                      error=True, back="/admin/")
