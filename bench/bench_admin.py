"""The workspace's pages on 100,000 subscribers: median and p95 time of each, as a ratio to /healthz, and the
weight of each page with what it loads. The subscriber search is timed for each kind of query (a rare part of an
address, a common name, a two-letter prefix, a word in every address, a word in none, a filter alone) and a
person's page with their history.

    .venv/bin/python bench/bench_admin.py [--subscribers 100000] [--requests 200] [--clients 4] [--pg URL]

`bulletin serve` in its own process on a free port, a real database (a fresh SQLite file, or the PostgreSQL
database given, whose public schema is dropped) holding one list of N subscribers, a finished send to all of
them and a running one half delivered, and an admin signed in over real HTTP. People have French and Malian
names (`Awa Traoré`), addresses made of them, joined over a year; a few have a history (a confirmation, a bounce,
an unsubscribe). The dashboard reads the running sends' figures (one GROUP BY), the bounces since the last send
and the subscriptions over 12 weeks (the rows changed in those weeks, through covering indexes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import insert, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchlib import median_p95, reset_pg, timed_requests, wait_until_up  # noqa: E402
from bulletin import config as config_mod  # noqa: E402
from bulletin.services import accounts  # noqa: E402
from bulletin.services.audit import Actor  # noqa: E402
from bulletin.services.store import Store  # noqa: E402
from bulletin.store import db, queries  # noqa: E402
from bulletin.store.models import Delivery, Event, Send, Subscriber, Subscription, name_key  # noqa: E402
from bulletin.web.server import free_port  # noqa: E402

PASSWORD = "bench-password-0123"


FIRST = ["Awa", "Moussa", "Fanta", "Bakary", "Mariam", "Oumar", "Aïssata", "Ibrahim", "Kadiatou", "Hélène"]
LAST = ["Traoré", "Koné", "Diarra", "Coulibaly", "Dembélé", "Sangaré", "Maïga", "Touré", "Cissé", "Keïta",
        "Sidibé", "Doumbia", "Kanté"]


def _ascii(text: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def person_row(i: int, now: dt.datetime) -> dict:
    first, last = FIRST[i % len(FIRST)], LAST[(i // 7) % len(LAST)]
    email = f"{_ascii(first)}.{_ascii(last)}{i}@{['example.org', 'mail.example.com', 'ong.example'][i % 3]}"
    return {"email": email, "email_key": email, "name": f"{first} {last}", "name_key": name_key(f"{first} {last}"),
            "language": "fr" if i % 3 else "en", "status": "active", "attributes": {},
            "created_at": now - dt.timedelta(days=i % 365), "updated_at": now}


def populate(engine, n: int) -> tuple[int, int]:
    now = dt.datetime.now(dt.timezone.utc)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, "actualites", "Actualités de l'IMRAP")
        for start in range(0, n, 20_000):
            s.execute(insert(Subscriber), [person_row(i, now) for i in range(start, min(n, start + 20_000))])
        ids = [row[0] for row in s.execute(text("SELECT id FROM subscribers ORDER BY id"))]
        for start in range(0, n, 20_000):
            s.execute(insert(Subscription), [
                {"subscriber_id": i, "list_id": ml.id, "status": "subscribed" if i % 50 else "unsubscribed",
                 "source": "bench", "created_at": now - dt.timedelta(days=i % 365), "updated_at": now}
                for i in ids[start:start + 20_000]])
        done = Send(issue_slug="2023-07", issue_dir="/bench", list_id=ml.id, state="done", total=n,
                    started_at=now - dt.timedelta(days=30), finished_at=now - dt.timedelta(days=29))
        running = Send(issue_slug="2023-08", issue_dir="/bench", list_id=ml.id, state="running", total=n,
                       started_at=now - dt.timedelta(minutes=10))
        s.add_all([done, running])
        s.flush()
        for send, status in ((done, lambda i: "sent"), (running, lambda i: "sent" if i % 2 else "pending")):
            for start in range(0, n, 20_000):
                s.execute(insert(Delivery), [
                    {"send_id": send.id, "subscriber_id": i, "email": f"u{i}@example.org", "language": "fr",
                     "status": status(i), "attempts": 1,
                     "sent_at": now - dt.timedelta(minutes=i % 600) if status(i) == "sent" else None}
                    for i in ids[start:start + 20_000]])
        # A history for one person in a hundred: confirmed from the form, a soft bounce, for some an unsubscribe.
        s.execute(insert(Event), [
            {"subscriber_id": i, "list_id": ml.id, "send_id": send_id, "kind": kind, "at": now, "detail": detail,
             "source": source, "ip": ip}
            for i in ids[::100]
            for send_id, kind, detail, source, ip in (
                (None, "confirm", "link issued", "web", "198.51.100.7"),
                (done.id, "bounce_soft", "452 4.2.2 mailbox full", "bounce:<x@mx.example>", ""),
                (done.id, "unsubscribe", "", "one-click", "203.0.113.5"))])
        return done.id, running.id


def measure(name: str, get, n: int, clients: int, baseline: tuple[float, float] | None) -> tuple[float, float]:
    """`n` requests from `clients` threads (a keep-alive connection each); print and return (median, p95)."""
    p50, p95 = median_p95(timed_requests(name, get, n, clients, timeout=60)[0])
    ratio = f"{p50 / baseline[0]:6.1f}x {p95 / baseline[1]:6.1f}x" if baseline else "  baseline      "
    print(f"{name:<58} median {p50 * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms   {ratio}", flush=True)
    return p50, p95


def weight(client: httpx.Client, base: str, path: str) -> tuple[int, int]:
    """(HTML bytes, HTML + linked static files as sent compressed)."""
    page = client.get(f"{base}{path}")
    total = len(page.content)
    with httpx.Client() as fresh:
        for asset in re.findall(r'(?:href|src)="(/admin/static/[^"]+)"', page.text):
            total += int(fresh.get(f"{base}{asset}", headers={"Accept-Encoding": "gzip"}).headers["content-length"])
    return len(page.content), total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--pg", help="a PostgreSQL URL (its public schema is dropped); default: a fresh SQLite file")
    args = ap.parse_args()
    os.environ.setdefault("BULLETIN_SECRET", "bench-secret-0123456789abcdef")
    work = Path(tempfile.mkdtemp(prefix="bulletin-bench-admin-"))
    try:
        if args.pg:
            reset_pg(args.pg)
        url = args.pg or f"sqlite:///{work / 'bulletin.db'}"
        sock = free_port()
        port = sock.getsockname()[1]
        sock.close()
        (work / "bulletin.toml").write_text(
            f'[database]\nurl = "{url}"\n[web]\nbase_url = "http://127.0.0.1:{port}"\n'
            f'[delivery]\noutbox = "{work / "outbox"}"\n')
        cfg = config_mod.load(work / "bulletin.toml")
        store = Store.open(cfg)
        t0 = time.perf_counter()
        done, running = populate(store.engine, args.subscribers)
        store.run(accounts.add_user, "admin@example.org", "admin", PASSWORD, actor=Actor.cli(),
                  now=dt.datetime.now(dt.timezone.utc))
        if store.engine.dialect.name == "postgresql":
            with store.engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        print(f"populated {args.subscribers} subscribers, 2 sends of {args.subscribers} in "
              f"{time.perf_counter() - t0:.1f} s")
        db.dispose_all()
        server = subprocess.Popen([sys.executable, "-m", "bulletin", "--config", str(work / "bulletin.toml"),
                                   "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, server)
            with httpx.Client(timeout=60) as signer:
                form = signer.get(f"{base}/admin/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
                r = signer.post(f"{base}/admin/login", data={"csrf": csrf, "email": "admin@example.org",
                                                             "password": PASSWORD})
                assert r.status_code == 303, r.status_code
                cookies = dict(signer.cookies)
            session = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
            n, clients = args.requests, args.clients
            print(f"{n} requests a page, {clients} clients, {url.split(':')[0]}, {os.cpu_count()} cores; "
                  "ratios: median and p95 to /healthz's")
            healthz = measure("GET /healthz", lambda c, i: c.get(f"{base}/healthz"), n, clients, None)
            person = args.subscribers // 2 // 100 * 100 + 1  # one with a history
            pages = ["/admin/", "/admin/live/sends", "/admin/sends", f"/admin/sends/{running}",
                     f"/admin/sends/{done}", "/admin/lists", "/admin/users", "/admin/audit",
                     # the subscriber search: a rare part of an address, a common name without its accent, a
                     # two-letter prefix, a word in every address, a word in none, a filter alone; a person's page
                     "/admin/subscribers?q=toure1234", "/admin/subscribers?q=traore",
                     "/admin/subscribers?q=ka", "/admin/subscribers?q=example", "/admin/subscribers?q=personne-nulle",
                     "/admin/subscribers?list=actualites&status=unsubscribed&language=en",
                     f"/admin/subscribers/{person}", "/admin/imports"]
            for path in pages:
                measure(f"GET {path}", lambda c, i, p=path: c.get(f"{base}{p}", headers=session), n, clients,
                        healthz)
            print("page weights (HTML; with its CSS and script as sent, gzip):")
            with httpx.Client(headers=session, timeout=60) as c, httpx.Client(timeout=60) as visitor:
                for path in ["/admin/login", *pages]:
                    html, total = weight(visitor if path == "/admin/login" else c, base, path)
                    print(f"  {path:<58} {html / 1024:6.1f} KB  {total / 1024:6.1f} KB")
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        db.dispose_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
