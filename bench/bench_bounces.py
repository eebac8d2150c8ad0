"""How fast a bounce mailbox is read: parsing alone, then ingestion into SQLite (or PostgreSQL) from a Maildir.

    .venv/bin/python bench/bench_bounces.py [--messages 3000] [--pg postgresql+psycopg://...]

The baseline is the email package parsing the same bytes (what any reader of the mailbox pays); the ratios
show what classifying (DSN, ARF, flufl.bounce heuristics, junk checks) and then the store add on top. The
mailbox mixes the test corpus: real-world bounce formats, complaints and junk, for subscribers on one list.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tomllib
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulletin import config as config_mod  # noqa: E402
from bulletin.bounces.ingest import ingest  # noqa: E402
from bulletin.bounces.parse import parse_report  # noqa: E402
from bulletin.bounces.sources import maildir_messages  # noqa: E402
from bulletin.store import queries  # noqa: E402
from bulletin.store.db import engine_for, session_scope  # noqa: E402
from bulletin.store.models import Delivery, Send, Subscriber, Subscription  # noqa: E402

CORPUS = ROOT / "tests" / "bounce_corpus"


def corpus() -> list[tuple[bytes, str | None]]:
    """Each corpus message with the subscriber address it names (None for junk)."""
    expected = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
    out = [((CORPUS / n).read_bytes(), e["address"]) for n, e in expected.items() if n != "junk"]
    return out + [((CORPUS / "junk" / n).read_bytes(), None) for n in expected["junk"]]


def mailbox(messages: int) -> list[tuple[bytes, str | None]]:
    """`messages` distinct messages, each with its own Message-ID and its own subscriber."""
    samples = corpus()
    out = []
    for i in range(messages):
        raw, address = samples[i % len(samples)]
        raw = raw.replace(b"\nMessage-I", f"\nX-Seq: {i}\nMessage-I".encode(), 1)
        raw = raw.replace(b"@mail.imrap-mali.org>", f".{i}@mail.imrap-mali.org>".encode())
        if address:
            local, _, domain = address.partition("@")
            unique = f"{local}.{i}@{domain}"
            raw = raw.replace(address.encode(), unique.encode())
            address = unique
        out.append((raw, address))
    return out


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_ingest(url: str, mail: list[tuple[bytes, str | None]], folder: Path) -> float:
    cfg = config_mod.from_mapping({"database": {"url": url}}, path=folder / "bulletin.toml")
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        ml = queries.create_list(s, "actualites", "Actualités")
        send = Send(issue_slug="2023-07", issue_dir="issues/2023-07", list_id=ml.id, state="done")
        s.add(send)
        s.flush()
        for _raw, address in mail:
            if address is None:
                continue
            sub = Subscriber(email=address, email_key=address.lower(), language="fr")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=ml.id))
            s.add(Delivery(send_id=send.id, subscriber_id=sub.id, email=address, language="fr", status="sent"))
    box = folder / "box"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    for i, (raw, _address) in enumerate(mail):
        (box / "new" / f"{i:06d}.eml").write_bytes(raw)
    summary = None

    def run():
        nonlocal summary
        summary = ingest(engine, cfg, maildir_messages(box))

    seconds = timed(run)
    print(f"  {summary.messages} messages: {summary.hard} hard, {summary.soft} soft, {summary.complaints} complaints, "
          f"skipped {sum(summary.skipped.values())}, unmatched {summary.unmatched}")
    return seconds


def reset_pg(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--pg", metavar="URL", help="also ingest into this PostgreSQL database (its schema is dropped)")
    args = parser.parse_args()
    mail = mailbox(args.messages)
    raws = [raw for raw, _ in mail]
    n = len(raws)
    parse = BytesParser(policy=policy.compat32).parsebytes
    for raw in raws[:50]:  # warm-up of both, so that neither pays for imports and caches
        parse(raw)
        parse_report(raw)
    baseline = timed(lambda: [parse(r) for r in raws])
    classify = timed(lambda: [parse_report(r) for r in raws])
    print(f"{n} messages, {sum(map(len, raws)) / n / 1024:.1f} KiB each on average")
    print(f"email package parse (baseline):  {n / baseline:8.0f} msg/s")
    print(f"parse_report (classify):         {n / classify:8.0f} msg/s  {classify / baseline:5.2f}x baseline time")
    with tempfile.TemporaryDirectory() as tmp:
        seconds = bench_ingest(f"sqlite:///{Path(tmp) / 'bench.db'}", mail, Path(tmp))
        print(f"ingest from Maildir, SQLite:     {n / seconds:8.0f} msg/s  {seconds / baseline:5.2f}x baseline time")
    if args.pg:
        reset_pg(args.pg)
        with tempfile.TemporaryDirectory() as tmp:
            seconds = bench_ingest(args.pg, mail, Path(tmp))
            print(f"ingest from Maildir, PostgreSQL: {n / seconds:8.0f} msg/s  {seconds / baseline:5.2f}x baseline time")


if __name__ == "__main__":
    main()
