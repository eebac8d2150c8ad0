"""The web service under load: requests per second and latency of each page, against /healthz as the baseline.

    .venv/bin/python bench/bench_web.py [--requests 500] [--clients 8] [--pg postgresql+psycopg://...]

`bulletin serve` in its own process on a free port, a real database (a fresh SQLite file, or the PostgreSQL database given,
whose public schema is dropped), real HTTP from a pool of client threads. The ratio to /healthz (the cost of a
request that does almost nothing) shows what tokens, the database and the page templates add. One-click
unsubscribes each hit a different subscriber, so every POST writes.
"""

from __future__ import annotations

import argparse
import os
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

from bulletin import config as config_mod  # noqa: E402
from bulletin.cli import main as bulletin  # noqa: E402
from bulletin.store import db, queries  # noqa: E402
from bulletin.store.models import Subscriber, Subscription  # noqa: E402
from bulletin.tokens import Tokens  # noqa: E402
from bulletin.web.server import free_port  # noqa: E402
from benchlib import median_p95, reset_pg, timed_requests, wait_until_up  # noqa: E402


def measure(name: str, make_request, n: int, clients: int, baseline: float | None) -> float:
    """Run `n` requests from `clients` threads (one keep-alive connection each); print and return requests/s."""
    latencies, elapsed = timed_requests(name, make_request, n, clients)
    rate = n / elapsed
    p50, p95 = median_p95(latencies)
    ratio = f"{baseline / rate:6.2f}x healthz" if baseline else "  baseline    "
    print(f"{name:<36} {rate:7.0f} req/s  p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  {ratio}", flush=True)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--pg", help="a PostgreSQL URL (its public schema is dropped); default: a fresh SQLite file")
    args = ap.parse_args()
    n = args.requests
    os.environ.setdefault("BULLETIN_SECRET", "bench-secret-0123456789abcdef")

    work = Path(tempfile.mkdtemp(prefix="bulletin-bench-web-"))
    try:
        if args.pg:
            reset_pg(args.pg)
        url = args.pg or f"sqlite:///{work / 'bulletin.db'}"
        sock = free_port()
        port = sock.getsockname()[1]
        (work / "bulletin.toml").write_text(
            f'[database]\nurl = "{url}"\n[web]\nbase_url = "http://127.0.0.1:{port}"\n'
            f"subscribe_limit_per_ip = {10 * n}\nsubscribe_limit_per_address = {10 * n}\n"
            f'[delivery]\noutbox = "{work / "outbox"}"\n'
        )
        cfg = config_mod.load(work / "bulletin.toml")
        engine = db.engine_for(cfg.database_url)
        with db.session_scope(engine) as s:
            ml = queries.create_list(s, "actualites", "Actualités de l'IMRAP")
            s.execute(insert(Subscriber), [
                {"email": f"u{i}@example.org", "email_key": f"u{i}@example.org", "name": "", "language": "fr",
                 "status": "active", "attributes": {}} for i in range(n)])
            ids = [row[0] for row in s.execute(text("SELECT id FROM subscribers ORDER BY id"))]
            s.execute(insert(Subscription), [{"subscriber_id": i, "list_id": ml.id, "status": "subscribed",
                                              "source": "bench"} for i in ids])
            list_id = ml.id
        issue = work / "issues" / "2023-07"
        shutil.copytree(REPO / "issues" / "2023-07", issue)
        # The sample issue, sent to the outbox, so the archive serves what was really mailed.
        if bulletin(["--config", str(work / "bulletin.toml"), "send", str(issue), "--list", "actualites"]) != 0:
            raise SystemExit("bulletin send failed")
        tokens = Tokens(cfg.signing_secret())
        unsubscribe = [tokens.unsubscribe(i, list_id, 1) for i in ids]
        image = next(p.name for p in (issue / "images").iterdir())

        sock.close()
        # `bulletin serve` in its own process, as in production: the client threads here do not share its GIL.
        server = subprocess.Popen([sys.executable, "-m", "bulletin", "--config", str(work / "bulletin.toml"),
                                   "serve", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, server)
            print(f"{n} requests a page, {args.clients} clients, {url.split(':')[0]}, {os.cpu_count()} cores")
            healthz = measure("GET /healthz", lambda c, i: c.get(f"{base}/healthz"), n, args.clients, None)
            measure("GET /unsubscribe/{token}", lambda c, i: c.get(f"{base}/unsubscribe/{unsubscribe[i]}"),
                    n, args.clients, healthz)
            measure("POST /unsubscribe/{token} one-click",
                    lambda c, i: c.post(f"{base}/unsubscribe/{unsubscribe[i]}", data={"List-Unsubscribe": "One-Click"}),
                    n, args.clients, healthz)
            measure("POST again (already unsubscribed)",
                    lambda c, i: c.post(f"{base}/unsubscribe/{unsubscribe[i]}", data={"List-Unsubscribe": "One-Click"}),
                    n, args.clients, healthz)
            measure("GET /subscribe", lambda c, i: c.get(f"{base}/subscribe"), n, args.clients, healthz)
            measure("POST /subscribe (mail to maildir)",
                    lambda c, i: c.post(f"{base}/subscribe", data={"email": f"new{i}@example.org"}),
                    n, args.clients, healthz)
            measure("GET /archive", lambda c, i: c.get(f"{base}/archive"), n, args.clients, healthz)
            measure("GET /archive/2023-07", lambda c, i: c.get(f"{base}/archive/2023-07"), n, args.clients, healthz)
            t0 = time.perf_counter()
            first = httpx.get(f"{base}/archive/2023-07/images/{image}")
            cold = time.perf_counter() - t0
            print(f"{'GET image, first (scaled)':<36} {cold * 1000:8.1f} ms  {len(first.content)} bytes "
                  f"from {(issue / 'images' / image).stat().st_size}")
            measure("GET image, cached", lambda c, i: c.get(f"{base}/archive/2023-07/images/{image}"),
                    n, args.clients, healthz)
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        db.dispose_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
