"""Delivery speed, memory and repeats after a kill: Bulletin's messages per second as a ratio of bare smtplib
sending the same pre-built bytes over the same number of connections (DKIM on and off), the same figures for
another checkout in the same run, the messages a SIGKILL repeats, and a large send's peak memory.

    python bench/bench_send.py                        # ratio table (2,000 recipients per run)
    python bench/bench_send.py --against /work/main   # this checkout and another, interleaved, DKIM on
    python bench/bench_send.py --kills 10             # duplicates per SIGKILL (4 connections; with --against too)
    python bench/bench_send.py --big 100000 10000     # peak memory and time of large sends (one process each)

The receiver is bench/smtp_sink.py in its own process (asyncio, not aiosmtpd, which would be the bottleneck).
A checkout compared with --against runs in its own processes with its own `bulletin` package first on the path.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# `--one-run TREE ...` and `--setup-kills TREE ...` use the `bulletin` package of another checkout: it must come
# first on the path.
TREE = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 and sys.argv[1] in ("--one-run", "--setup-kills") else REPO
sys.path.insert(0, str(TREE))

ISSUE = REPO / "issues" / "2023-07"
SECRET = "bench-secret-0123456789abcdef"


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


def config_data(folder: Path, port: int, connections: int, dkim_key: Path | None) -> dict:
    data = {
        "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
        "delivery": {"transport": "smtp", "connections": connections, "batch_size": 100,
                     "return_path": "bounces+{token}@imrap-mali.org"},
        "smtp": {"host": "127.0.0.1", "port": port},
        "web": {"base_url": "https://news.imrap-mali.org"},
    }
    if dkim_key:
        data["dkim"] = {"domain": "imrap-mali.org", "selector": "bulletin", "private_key_file": str(dkim_key)}
    return data


def make_config(folder: Path, port: int, connections: int, dkim_key: Path | None):
    from bulletin import config as config_mod

    return config_mod.from_mapping(config_data(folder, port, connections, dkim_key), path=folder / "bulletin.toml")


def write_toml(folder: Path, data: dict) -> Path:
    """The same configuration as a file, for a `bulletin` process."""
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        for key, value in values.items():
            lines.append(f"{key} = {value}" if isinstance(value, int) else f'{key} = "{value}"')
    path = folder / "bulletin.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def populate(url: str, n: int) -> None:
    from sqlalchemy import insert

    from bulletin.store import queries
    from bulletin.store.db import engine_for, session_scope
    from bulletin.store.models import Subscriber, Subscription

    engine = engine_for(url)
    with session_scope(engine) as s:
        list_id = queries.create_list(s, "news", "Nouvelles de l'IMRAP").id
    chunk = 5_000
    for start in range(0, n, chunk):
        rows = [{"id": i + 1, "email": f"user{i:06d}@example.org", "email_key": f"user{i:06d}@example.org",
                 "name": f"Abonné {i}", "language": "fr" if i % 3 else "en", "status": "active", "attributes": {}}
                for i in range(start, min(n, start + chunk))]
        with session_scope(engine) as s:
            s.execute(insert(Subscriber), rows)
            s.execute(insert(Subscription), [{"subscriber_id": r["id"], "list_id": list_id, "status": "subscribed",
                                             "source": "bench"} for r in rows])


def started_send(cfg) -> int:
    """The sample issue rendered, stored and started for the list."""
    from bulletin.deliver.sends import create_send, start_send
    from bulletin.render.pipeline import render_issue
    from bulletin.store.db import engine_for, session_scope

    editions = render_issue(ISSUE, cfg)
    with session_scope(engine_for(cfg.database_url)) as s:
        send_id = create_send(s, issue_dir=ISSUE, list_slug="news", editions=editions).id
        start_send(s, send_id)
    return send_id


def sample_message(cfg, send_id: int) -> bytes:
    """One recipient's bytes, built as delivery builds them (the API moved between checkouts)."""
    from bulletin.deliver.claims import Claimed
    from bulletin.store.db import engine_for

    claimed = Claimed(0, 1, "user000001@example.org", "fr", "Abonné", 1)
    engine = engine_for(cfg.database_url)
    try:
        from bulletin.deliver.context import load_context
    except ImportError:
        from bulletin.deliver.context import build_context
        from bulletin.store.deliveries import DeliveryRows

        ctx = build_context(cfg, DeliveryRows(engine).material(send_id), now=None)
    else:
        ctx = load_context(engine, cfg, send_id)
    return ctx.message(claimed)[1]


CPU: dict[str, float] = {}


def cpu_seconds() -> float:
    """CPU time of this process, all threads: steadier than wall time on a shared machine."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bulletin_run(folder: Path, port: int, n: int, connections: int, dkim_key: Path | None) -> tuple[float, float, bytes]:
    """A real send of the sample issue to n subscribers; returns (messages per second, CPU ms per message, one
    message's bytes)."""
    from bulletin.deliver.engine import deliver_send
    from bulletin.store.db import dispose_all, engine_for

    cfg = make_config(folder, port, connections, dkim_key)
    populate(cfg.database_url, n)
    send_id = started_send(cfg)
    sample = sample_message(cfg, send_id)
    before = sink_count(port)
    cpu, t = cpu_seconds(), time.perf_counter()
    deliver_send(engine_for(cfg.database_url), cfg, send_id)
    elapsed, cpu = time.perf_counter() - t, cpu_seconds() - cpu
    assert sink_count(port) - before == n, "every message reached the sink"
    dispose_all()
    return n / elapsed, cpu / n * 1000, sample


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
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)  # else every run warns that the key is readable by all
    return path


def ratios(n: int, repeat: int) -> None:
    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-send-"))
    os.environ.setdefault("BULLETIN_SECRET", SECRET)
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
                cpu = 1e9
                CPU.clear()
                for rep in range(repeat):
                    folder = root / f"c{connections}-{'dkim' if dkim else 'plain'}-{rep}"
                    folder.mkdir()
                    r, c, sample = bulletin_run(folder, port, n, connections, key if dkim else None)
                    rate, cpu = max(rate, r), min(cpu, c)
                    base = max(base, baseline_run(port, n, connections, sample))
                print(f"{connections:>11} {'on' if dkim else 'off':>5} {base:>15.0f} {rate:>15.0f} "
                      f"{rate / base:>6.2f} {CPU['baseline'] * 1000:>16.2f} {cpu:>9.2f} {len(sample):>8}", flush=True)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)


def one_run(folder: Path, port: int, n: int, connections: int, key: Path | None) -> None:
    """In a process of its own (`--one-run TREE ...`): one send with the checkout TREE's code; prints its figures."""
    rate, cpu, _ = bulletin_run(folder, port, n, connections, key)
    print(f"{rate:.1f} {cpu:.3f}", flush=True)


def against(other: Path, n: int, repeat: int) -> None:
    """This checkout and another, DKIM on, interleaved run by run in the same sink and the same minutes."""
    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-against-"))
    env = dict(os.environ, BULLETIN_SECRET=os.environ.get("BULLETIN_SECRET", SECRET))
    trees = {"this": REPO, "other": other.resolve()}
    try:
        key = write_key(root)
        print(f"{n} recipients per run, best of {repeat}, DKIM on, this checkout ({REPO}) against {other}, "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"{'connections':>11} {'other msg/s':>12} {'this msg/s':>11} {'ratio':>6} {'CPU ms/msg other':>17} "
              f"{'this':>6}")
        for connections in (1, 4):
            best = {name: (0.0, 1e9) for name in trees}
            for rep in range(repeat):
                for name, tree in (trees.items() if rep % 2 == 0 else reversed(trees.items())):
                    folder = root / f"{name}-c{connections}-{rep}"
                    folder.mkdir()
                    out = subprocess.run([sys.executable, __file__, "--one-run", str(tree), str(folder), str(port),
                                          str(n), str(connections), str(key)], env=env, check=True,
                                         capture_output=True, text=True).stdout.split()
                    rate, cpu = float(out[0]), float(out[1])
                    best[name] = (max(best[name][0], rate), min(best[name][1], cpu))
            (o_rate, o_cpu), (t_rate, t_cpu) = best["other"], best["this"]
            print(f"{connections:>11} {o_rate:>12.0f} {t_rate:>11.0f} {t_rate / o_rate:>6.3f} {o_cpu:>17.3f} "
                  f"{t_cpu:>6.3f}", flush=True)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)


def kills(trees: dict[str, Path], n: int, count: int, connections: int = 4) -> None:
    """`bulletin worker --drain` killed with SIGKILL `count` times at random points of one send, then left to
    finish: the messages received beyond n are the repeats the kills cost."""
    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-kill-"))
    env = dict(os.environ, BULLETIN_SECRET=os.environ.get("BULLETIN_SECRET", SECRET))
    try:
        print(f"{n} recipients, {connections} connections, {count} SIGKILLs at random points, no DKIM")
        for name, tree in trees.items():
            folder = root / name
            folder.mkdir()
            data = config_data(folder, port, connections, None)
            cfg_path = write_toml(folder, data)
            subprocess.run([sys.executable, __file__, "--setup-kills", str(tree), str(cfg_path), str(n)], env=env,
                           check=True, cwd=folder)
            start = sink_count(port)
            points = sorted(random.sample(range(1, n), count))
            worker_env = dict(env, PYTHONPATH=str(tree))
            for point in [*points, None]:
                proc = subprocess.Popen([sys.executable, "-m", "bulletin", "--config", str(cfg_path), "worker",
                                         "--drain"], env=worker_env, cwd=folder, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                if point is not None:
                    while sink_count(port) - start < point and proc.poll() is None:
                        time.sleep(0.002)
                    proc.send_signal(signal.SIGKILL)
                proc.wait()
            repeats = sink_count(port) - start - n
            print(f"{name:>6}: {repeats} messages repeated by {count} kills: {repeats / count:.2f} per kill "
                  f"({repeats / count / connections:.2f} per connection)", flush=True)
    finally:
        sink.terminate()
        shutil.rmtree(root, ignore_errors=True)


def setup_big(folder: Path, port: int, n: int) -> None:
    """In its own process (`--setup-big`): the list, the rendered issue and the started send, so that the
    measuring process holds only what delivery holds."""
    cfg = make_config(folder, port, 4, folder / "dkim.pem")
    populate(cfg.database_url, n)
    t = time.perf_counter()
    started_send(cfg)
    print(f"render and snapshot of {n} recipients: {time.perf_counter() - t:.2f} s", flush=True)


def big(n: int) -> None:
    """One large send delivered by this process; prints peak RSS and time."""
    from bulletin.deliver.engine import deliver_send
    from bulletin.store.db import engine_for

    sink, port = start_sink()
    root = Path(tempfile.mkdtemp(prefix="bench-big-"))
    os.environ.setdefault("BULLETIN_SECRET", SECRET)
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
    parser.add_argument("--against", type=Path, metavar="CHECKOUT", help="another checkout to compare, same run")
    parser.add_argument("--kills", type=int, metavar="K", help="duplicates per SIGKILL over K kills")
    parser.add_argument("--big", type=int, nargs="*", metavar="N", help="large sends, each in a fresh process")
    args = parser.parse_args()
    if args.big:
        for n in args.big:
            subprocess.run([sys.executable, __file__, "--one-big", str(n)], check=True)
        return
    if args.kills:
        trees = {"this": REPO} | ({"other": args.against} if args.against else {})
        kills(trees, args.messages, args.kills)
        return
    if args.against:
        against(args.against, args.messages, args.repeat)
        return
    ratios(args.messages, args.repeat)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--one-big":
        big(int(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--setup-big":
        setup_big(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--setup-kills":
        from bulletin import config as config_mod

        cfg = config_mod.load(sys.argv[3])
        populate(cfg.database_url, int(sys.argv[4]))
        started_send(cfg)
    elif len(sys.argv) == 8 and sys.argv[1] == "--one-run":
        key = Path(sys.argv[7])
        one_run(Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), key)
    else:
        main()
