"""Delivery speed and memory: Bulletin's messages per second as a ratio of bare smtplib sending the same
pre-built bytes over the same number of connections, DKIM on and off; and a large send's peak memory.

    python bench/bench_send.py                      # ratio table (2,000 recipients per run)
    python bench/bench_send.py --messages 5000
    python bench/bench_send.py --big 100000 10000   # peak memory and time of large sends (one process each)

The receiver is bench/smtp_sink.py in its own process (asyncio, not aiosmtpd, which would be the bottleneck).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bulletin import config as config_mod  # noqa: E402
from bulletin.deliver.context import load_context  # noqa: E402
from bulletin.deliver.engine import deliver_send  # noqa: E402
from bulletin.deliver.claims import Claimed  # noqa: E402
from bulletin.deliver.sends import create_send, start_send  # noqa: E402
from bulletin.store import queries  # noqa: E402
from bulletin.store.db import dispose_all, engine_for, session_scope  # noqa: E402
from bulletin.store.models import Subscriber, Subscription  # noqa: E402

ISSUE = REPO / "issues" / "2023-07"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sink() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "smtp_sink.py"), str(port)], stdout=subprocess.PIPE)
    proc.stdout.readline()
    return proc, port


def sink_count(port: int) -> int:
    with smtplib.SMTP("127.0.0.1", port) as s:
        return int(s.docmd("XCOUNT")[1])


def make_config(folder: Path, port: int, connections: int, dkim_key: Path | None) -> config_mod.Config:
    data = {
        "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
        "delivery": {"transport": "smtp", "connections": connections, "batch_size": 100,
                     "return_path": "bounces+{token}@imrap-mali.org"},
        "smtp": {"host": "127.0.0.1", "port": port},
        "web": {"base_url": "https://news.imrap-mali.org"},
    }
    if dkim_key:
        data["dkim"] = {"domain": "imrap-mali.org", "selector": "bulletin", "private_key_file": str(dkim_key)}
    return config_mod.from_mapping(data, path=folder / "bulletin.toml")


def populate(url: str, n: int) -> None:
    engine = engine_for(url)
    with session_scope(engine) as s:
        ml = queries.create_list(s, "news", "Nouvelles de l'IMRAP")
        list_id = ml.id
    chunk = 5_000
    for start in range(0, n, chunk):
        rows = [{"id": i + 1, "email": f"user{i:06d}@example.org", "email_key": f"user{i:06d}@example.org",
                 "name": f"Abonné {i}", "language": "fr" if i % 3 else "en", "status": "active", "attributes": {}}
                for i in range(start, min(n, start + chunk))]
        with session_scope(engine) as s:
            s.execute(insert(Subscriber), rows)
            s.execute(insert(Subscription), [{"subscriber_id": r["id"], "list_id": list_id, "status": "subscribed",
                                             "source": "bench"} for r in rows])


CPU: dict[str, float] = {}


def cpu_seconds() -> float:
    """CPU time of this process, all threads: steadier than wall time on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bulletin_run(folder: Path, port: int, n: int, connections: int, dkim_key: Path | None) -> tuple[float, bytes]:
    """A real send of the sample issue to n subscribers; returns (messages per second, one message's bytes)."""
    cfg = make_config(folder, port, connections, dkim_key)
    populate(cfg.database_url, n)
    engine = engine_for(cfg.database_url)
    from bulletin.render.pipeline import render_issue

    editions = render_issue(ISSUE, cfg)
    with session_scope(engine) as s:
        send_id = create_send(s, issue_dir=ISSUE, list_slug="news", editions=editions).id
        start_send(s, send_id)
    sample = load_context(engine, cfg, send_id).message(Claimed(0, 1, "user000001@example.org", "fr", "Abonné", 1))[1]
    before = sink_count(port)
    cpu, t = cpu_seconds(), time.perf_counter()
    deliver_send(engine, cfg, send_id)
    elapsed, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    assert sink_count(port) - before == n, "every message reached the sink"
    dispose_all()
    CPU["bulletin"] = min(CPU.get("bulletin", 1e9), cpu / n)
    return n / elapsed, sample


def baseline_run(port: int, n: int, connections: int, message: bytes) -> float:
    """Bare smtplib: the same bytes, n times, over `connections` reused connections."""
    share = [n // connections + (1 if i < n % connections else 0) for i in range(connections)]

    def work(k: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as s:
            for _ in range(k):
                s.sendmail("bounces@imrap-mali.org", ["user@example.org"], message)

    threads = [threading.Thread(target=work, args=(k,)) for k in share]
    cpu, t = cpu_seconds(), time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    CPU["baseline"] = min(CPU.get("baseline", 1e9), cpu / n)
    return n / elapsed


def write_key(folder: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)  # else every run warns that the key is readable by all
    return path


def ratios(n: int, repeat: int) -> None:
    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-send-"))
    os.environ.setdefault("BULLETIN_SECRET", "bench-secret-0123456789abcdef")
    try:
        key = write_key(root)
        print(f"{n} recipients per run, best of {repeat}, sample issue 2023-07, RSA-2048 DKIM, "
              f"receiver: bench/smtp_sink.py, load average {os.getloadavg()[0]:.1f}")
        print(f"{'connections':>11} {'dkim':>5} {'baseline msg/s':>15} {'bulletin msg/s':>15} {'ratio':>6} "
              f"{'CPU ms/msg base':>16} {'bulletin':>9} {'size':>8}")
        for connections in (1, 4):
            for dkim in (False, True):
                # Interleaved and best of `repeat`: the machine is shared, and the best run is the least disturbed.
                rate = base = 0.0
                CPU.clear()
                for rep in range(repeat):
                    folder = root / f"c{connections}-{'dkim' if dkim else 'plain'}-{rep}"
                    folder.mkdir()
                    r, sample = bulletin_run(folder, port, n, connections, key if dkim else None)
                    rate = max(rate, r)
                    base = max(base, baseline_run(port, n, connections, sample))
                print(f"{connections:>11} {'on' if dkim else 'off':>5} {base:>15.0f} {rate:>15.0f} "
                      f"{rate / base:>6.2f} {CPU['baseline'] * 1000:>16.2f} {CPU['bulletin'] * 1000:>9.2f} "
                      f"{len(sample):>8}", flush=True)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)


def setup_big(folder: Path, port: int, n: int) -> None:
    """In its own process (`--setup-big`): the list, the rendered issue and the started send, so that the
    measuring process holds only what delivery holds."""
    cfg = make_config(folder, port, 4, folder / "dkim.pem")
    populate(cfg.database_url, n)
    from bulletin.render.pipeline import render_issue

    editions = render_issue(ISSUE, cfg)
    with session_scope(engine_for(cfg.database_url)) as s:
        send_id = create_send(s, issue_dir=ISSUE, list_slug="news", editions=editions).id
        t = time.perf_counter()
        start_send(s, send_id)
    print(f"snapshot of {n} recipients in one statement: {time.perf_counter() - t:.2f} s", flush=True)


def big(n: int) -> None:
    """One large send delivered by this process; prints peak RSS and time."""
    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-big-"))
    os.environ.setdefault("BULLETIN_SECRET", "bench-secret-0123456789abcdef")
    try:
        write_key(root)
        subprocess.run([sys.executable, __file__, "--setup-big", str(root), str(port), str(n)], check=True)
        cfg = make_config(root, port, 4, root / "dkim.pem")
        engine = engine_for(cfg.database_url)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        deliver_send(engine, cfg, 1)
        elapsed = time.perf_counter() - t
        assert sink_count(port) == n, "every message reached the sink"
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n:>7} recipients, 4 connections, DKIM on: peak RSS {peak:.0f} MB ({before:.0f} MB before "
              f"delivery), delivery {elapsed:.0f} s, {n / elapsed:.0f} msg/s", flush=True)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big", type=int, nargs="*", metavar="N", help="large sends, each in a fresh process")
    args = parser.parse_args()
    if args.big:
        for n in args.big:
            subprocess.run([sys.executable, __file__, "--one-big", str(n)], check=True)
        return
    ratios(args.messages, args.repeat)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one-big":
        big(int(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--setup-big":
        setup_big(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
