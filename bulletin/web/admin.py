"""The send report pages of the admins: `/admin/sends` and `/admin/sends/{id}`, behind HTTP Basic.

The password comes from the environment variable named by `[web].admin_password_env`; without it the pages
are closed (503), never open. The chart of deliveries over time is inline SVG drawn here, so the page makes no
other request. Open and click tracking are not built: the report counts only what the mail system tells us.
"""

from __future__ import annotations

import datetime as dt
import hmac
import os
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from jinja2 import Environment, select_autoescape
from bulletin.services import reports
from bulletin.web.site import Site, get_site

router = APIRouter(prefix="/admin")
_basic = HTTPBasic(realm="Bulletin admin", auto_error=False)
CHART_BARS = 24


def require_admin(
    credentials: HTTPBasicCredentials | None = Depends(_basic), site: Site = Depends(get_site)
) -> None:
    expected = os.environ.get(site.cfg.web.admin_password_env, "")
    if not expected:
        raise HTTPException(503, f"the admin pages are closed: set {site.cfg.web.admin_password_env}")
    given = credentials.password if credentials else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "admin password required", headers={"WWW-Authenticate": 'Basic realm="Bulletin admin"'})


def chart_svg(counts: list[int], start_label: str, end_label: str) -> str:
    """Bars of `counts`, labelled with the first and last times; text alternative for screen readers."""
    width, height, pad = 480, 160, 24
    top = max(counts) or 1
    bar = (width - 2 * pad) / len(counts)
    rects = []
    for i, n in enumerate(counts):
        h = (height - 2 * pad) * n / top
        x, y = pad + i * bar, height - pad - h
        rects.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar * 0.8:.1f}" height="{h:.1f}"><title>{n}</title></rect>')
    total = sum(counts)
    esc = _env.filters["e"]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{total} messages sent between {esc(start_label)} and {esc(end_label)}" class="chart">'
        f'<g fill="#b5541c">{"".join(rects)}</g>'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#616e7c"/>'
        f'<text x="{pad}" y="{height - 6}" font-size="11">{esc(start_label)}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="11" text-anchor="end">{esc(end_label)}</text>'
        f'<text x="{pad}" y="{pad - 8}" font-size="11">max {top} per bar</text>'
        "</svg>"
    )


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{ title }}</title>
<style>
 body { font-family: system-ui, "DejaVu Sans", sans-serif; color: #1f2933; max-width: 44rem; margin: 0 auto;
        padding: 1rem; line-height: 1.45; }
 h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
 table { border-collapse: collapse; width: 100%; } td, th { text-align: left; padding: .3rem .5rem;
        border-bottom: 1px solid #e4e7eb; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
 .chart { width: 100%; height: auto; } .warn { color: #a61b1b; font-weight: 600; } a { color: #b5541c; }
</style></head><body>
{% if report %}
<p><a href="/admin/sends">All sends</a></p>
<h1>Send {{ report.id }}: {{ report.issue }} to {{ report.list }}</h1>
<p>State <strong id="state">{{ report.state }}</strong>{% if started %}, started {{ started }}{% endif -%}
{% if finished %}, finished {{ finished }}{% endif %}.</p>
<table id="figures">
{% for key, label in rows %}<tr><th scope="row">{{ label }}</th><td class="n" data-key="{{ key }}">{{ report[key] }}</td></tr>
{% endfor %}</table>
{% if not adds_up %}<p class="warn">The outcomes do not add up to the total.</p>{% endif %}
<h2>Deliveries over time</h2>
{{ chart | safe }}
<h2>Top failure reasons</h2>
{% if report.failure_reasons %}<table id="failure-reasons">{% for r in report.failure_reasons %}
<tr><td>{{ r.reason }}</td><td class="n">{{ r.count }}</td></tr>{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
<h2>Top bounce reasons</h2>
{% if report.bounce_reasons %}<table id="bounce-reasons">{% for r in report.bounce_reasons %}
<tr><td>{{ r.reason }}</td><td class="n">{{ r.count }}</td></tr>{% endfor %}</table>{% else %}<p>None.</p>{% endif %}
<p><small>Open and click tracking are not built: these figures come from the mail servers' answers, bounces
and complaints only.</small></p>
{% else %}
<h1>Sends</h1>
<table id="sends"><tr><th>Send</th><th>Issue</th><th>List</th><th>State</th><th>Sent</th><th>Bounced</th></tr>
{% for r in reports %}<tr><td><a href="/admin/sends/{{ r.id }}">{{ r.id }}</a></td><td>{{ r.issue }}</td>
<td>{{ r.list }}</td><td>{{ r.state }}</td><td class="n">{{ r.sent }}</td><td class="n">{{ r.bounced }}</td></tr>
{% endfor %}</table>
{% endif %}
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default_for_string=True, default=True))
_template = _env.from_string(_PAGE)

#: The figures of the report table, in the order an admin reads them.
ROWS = [
    ("total", "Recipients"),
    ("sent", "Sent"),
    ("deferred", "Deferred (will be retried)"),
    ("pending", "Not yet sent"),
    ("failed", "Failed"),
    ("skipped", "Skipped"),
    ("bounced_hard", "Bounced, hard"),
    ("bounced_soft", "Bounced, soft"),
    ("complaints", "Spam complaints"),
    ("unsubscribed", "Unsubscribed"),
]


def _page(**context) -> HTMLResponse:
    html = _template.render(**context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _local(site: Site, value: str | None) -> str:
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value).astimezone(ZoneInfo(site.cfg.organisation.timezone))
    return when.strftime("%Y-%m-%d %H:%M %Z")


@router.get("/sends", response_class=HTMLResponse, dependencies=[Depends(require_admin)])
def sends_index(site: Site = Depends(get_site)):
    with site.store.unit_of_work() as uow:
        rows = reports.send_summaries(uow)
    return _page(title="Sends", reports=rows)


@router.get("/sends/{send_id}", response_class=HTMLResponse, dependencies=[Depends(require_admin)])
def send_page(send_id: int, request: Request, site: Site = Depends(get_site)):
    with site.store.unit_of_work() as uow:
        report = reports.send_report(uow, send_id)
        counts, start, end = reports.deliveries_over_time(uow, send_id, CHART_BARS)
    zone = ZoneInfo(site.cfg.organisation.timezone)
    fmt = "%d/%m %H:%M"
    now = dt.datetime.now(dt.timezone.utc)
    chart = chart_svg(counts, (start or now).astimezone(zone).strftime(fmt), (end or now).astimezone(zone).strftime(fmt))
    outcomes = sum(report[k] for k in ("sent", "deferred", "pending", "failed", "skipped"))
    return _page(
        title=f"Send {report['id']}",
        report=report,
        rows=ROWS,
        chart=chart,
        adds_up=outcomes == report["total"],
        started=_local(site, report["started_at"]),
        finished=_local(site, report["finished_at"]),
    )
