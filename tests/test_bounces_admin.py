"""The send report page on a live `bulletin serve` (the web app includes the admin router): closed without a
password, refused with a wrong one, and with the right one the same figures as `bulletin status --json` and an
inline SVG chart of deliveries over time, checked in headless Chromium."""

from __future__ import annotations

import datetime as dt
import json
import os

import httpx
import pytest

from bulletin.bounces.ingest import ingest
from bulletin.bounces.sources import maildir_messages
from bulletin.cli import main
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Send
from bulletin.services import reports
from bulletin.services.store import Store
from bulletin.web.admin import chart_svg
from test_bounces_ingest import BOUNCES, _all_addresses, _corpus, _maildir, _setup
from web_support import live_site

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "Djoliba-2023"


def _send_with_bounces(cfg, tmp_path) -> int:
    """A send whose deliveries went out over an hour, two failed and one deferred, then the corpus bounced."""
    send_id, ids = _setup(cfg, _all_addresses() + ["a@partner.example", "b@partner.example", "c@partner.example"])
    engine = engine_for(cfg.database_url)
    start = dt.datetime(2023, 7, 15, 9, 0, tzinfo=dt.timezone.utc)
    with session_scope(engine) as s:
        send = s.get(Send, send_id)
        send.started_at, send.finished_at = start, start + dt.timedelta(hours=1)
        rows = s.query(Delivery).filter(Delivery.send_id == send_id).order_by(Delivery.id).all()
        for i, d in enumerate(rows):
            if d.email in ("a@partner.example", "b@partner.example"):
                d.status, d.sent_at, d.last_error = "failed", None, "550 5.1.1 mailbox unavailable"
            elif d.email == "c@partner.example":
                d.status, d.sent_at = "deferred", None
            else:
                d.sent_at = start + dt.timedelta(minutes=4 * i)
    ingest(engine, cfg, maildir_messages(_maildir(tmp_path / "box", _corpus(send_id))))
    return send_id


def test_chart_buckets_every_delivery_once(make_config, db_url):
    """The database counts the deliveries of each slice of the send's duration (one GROUP BY)."""
    cfg = make_config(db_url=db_url)
    send_id, _ids = _setup(cfg, [f"p{i}@example.org" for i in range(7)])
    start = dt.datetime(2023, 7, 15, 9, tzinfo=dt.timezone.utc)
    times = [start + dt.timedelta(minutes=m) for m in (0, 1, 2, 30, 59, 60)]
    store = Store.open(cfg)
    with session_scope(store.engine) as s:
        rows = s.query(Delivery).filter(Delivery.send_id == send_id).order_by(Delivery.id).all()
        for d, at in zip(rows, times):
            d.status, d.sent_at = "sent", at
    with store.unit_of_work() as uow:
        counts, first, last = reports.deliveries_over_time(uow, send_id, bars=4)
    assert counts == [3, 0, 1, 2] and (first, last) == (times[0], times[-1])
    svg = chart_svg(counts, "15/07 09:00", "15/07 10:00")
    assert svg.count("<rect") == 4 and 'aria-label="6 messages sent between 15/07 09:00 and 15/07 10:00"' in svg
    assert chart_svg([0, 0], "<b>", "x").count("<b>") == 0  # labels are escaped


def test_admin_pages_need_the_password(make_config, sqlite_url, tmp_path, monkeypatch):
    monkeypatch.delenv("BULLETIN_ADMIN_PASSWORD", raising=False)
    with live_site(make_config, sqlite_url, tmp_path) as site:
        send_id = _send_with_bounces(site.cfg, tmp_path)
        url = f"{site.url}/admin/sends/{send_id}"
        closed = httpx.get(url, auth=("admin", "anything"))
        assert closed.status_code == 503 and "BULLETIN_ADMIN_PASSWORD" in closed.text
        monkeypatch.setenv("BULLETIN_ADMIN_PASSWORD", PASSWORD)
        for auth in (None, ("admin", "wrong"), ("admin", PASSWORD.lower())):
            refused = httpx.get(url, auth=auth)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Basic")
            assert "Bounced" not in refused.text
        assert httpx.get(f"{site.url}/admin/sends", auth=("admin", "wrong")).status_code == 401
        ok = httpx.get(url, auth=("admin", PASSWORD))
        assert ok.status_code == 200 and "<svg" in ok.text and ok.headers["cache-control"] == "no-store"
        assert httpx.get(f"{site.url}/admin/sends/9999", auth=("admin", PASSWORD)).status_code == 404
        # A send id that is not a number is a malformed request, not a missing send.
        assert httpx.get(f"{site.url}/admin/sends/abc", auth=("admin", PASSWORD)).status_code == 400
        index = httpx.get(f"{site.url}/admin/sends", auth=("admin", PASSWORD))
        assert index.status_code == 200 and f'href="/admin/sends/{send_id}"' in index.text


@pytest.mark.browser
def test_send_page_shows_the_status_figures_and_the_chart(make_config, db_url, tmp_path, monkeypatch, capsys):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: .ci/run must install it")
        pytest.skip("no Debian chromium at /usr/bin/chromium")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("BULLETIN_ADMIN_PASSWORD", PASSWORD)
    with live_site(make_config, db_url, tmp_path) as site:
        send_id = _send_with_bounces(site.cfg, tmp_path)
        assert main(["--config", str(site.cfg.path), "status", str(send_id), "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        hard = sum(1 for e in BOUNCES.values() if e["kind"] == "bounce" and e["hard"])
        soft = sum(1 for e in BOUNCES.values() if e["kind"] == "bounce" and not e["hard"])
        complaints = sum(1 for e in BOUNCES.values() if e["kind"] == "complaint")
        assert (report["bounced_hard"], report["bounced_soft"], report["complaints"]) == (hard, soft, complaints)
        assert report["bounced"] == hard + soft
        unknown = sum(1 for e in BOUNCES.values() if e["kind"] == "bounce" and e["status"] == "5.1.1")
        assert report["bounce_reasons"][0] == {"reason": "5.1.1 mailbox does not exist", "count": unknown}
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync"],
            )
            context = browser.new_context(http_credentials={"username": "admin", "password": PASSWORD},
                                          viewport={"width": 375, "height": 740})
            page = context.new_page()
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(f"{site.url}/admin/sends/{send_id}")
            shown = {
                cell.get_attribute("data-key"): int(cell.inner_text())
                for cell in page.locator("#figures td[data-key]").all()
            }
            for key in ("total", "sent", "failed", "deferred", "bounced_hard", "bounced_soft", "complaints"):
                assert shown[key] == report[key], key
            assert shown["sent"] + shown["failed"] + shown["deferred"] + shown["pending"] + shown["skipped"] == shown["total"]
            assert page.locator(".warn").count() == 0
            chart = page.locator("svg.chart")
            assert chart.is_visible()
            box = chart.bounding_box()
            assert box and box["width"] <= 375 and box["height"] > 50
            bars = [float(h) for h in chart.locator("rect").evaluate_all("rs => rs.map(r => r.getAttribute('height'))")]
            assert len(bars) == 24 and max(bars) > 0
            titles = chart.locator("rect title").evaluate_all("ts => ts.map(t => t.textContent)")
            assert sum(int(t) for t in titles) == report["sent"]
            assert "5.1.1 mailbox does not exist" in page.locator("#bounce-reasons").inner_text()
            assert "550 5.1.1 mailbox unavailable" in page.locator("#failure-reasons").inner_text()
            # One request: the page and its chart need nothing else.
            assert requests == [f"{site.url}/admin/sends/{send_id}"]
            browser.close()


def test_the_sends_page_figures_equal_each_sends_report(make_config, db_url, tmp_path):
    """The summary of every send (a few GROUP BY queries) says what each send's own report says."""
    cfg = make_config(db_url=db_url)
    first = _send_with_bounces(cfg, tmp_path)
    store = Store.open(cfg)
    with store.unit_of_work() as uow:
        summaries = reports.send_summaries(uow)
        full = reports.send_report(uow, first)
    [summary] = summaries
    assert summary == {k: v for k, v in full.items() if k not in ("failure_reasons", "bounce_reasons")}
    assert summary["bounced_hard"] > 0 and summary["bounced_soft"] > 0 and summary["failed"] == 2


def test_bounce_reasons_are_worded_in_the_readers_language():
    from bulletin.bounces.report import reason_label

    assert reason_label("5.1.1 user unknown", "fr") == "5.1.1 la boîte aux lettres n'existe pas"
    assert reason_label("5.1.1 user unknown", "en") == "5.1.1 mailbox does not exist"
    assert reason_label("5.9.9 something new", "en") == "5.9.9 permanent failure"
    assert reason_label("4.9.9 later", "fr") == "4.9.9 échec temporaire"
    assert reason_label("  ", "fr") == "aucune raison donnée"
