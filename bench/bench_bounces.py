"""What a bounce mailbox teaches Bulletin: the share of permanent failures recognised, the delay warnings and other
junk wrongly marked, on the whole test corpus; then how fast the mailbox is read.

    .venv/bin/python bench/bench_bounces.py [--messages 3000] [--pg postgresql+psycopg://...]

Recognition: every message of tests/bounce_corpus (the formats of expected.toml and the languages and classes of
world.toml) is piped in alone, as a mail server's pipe does (`bulletin bounces ingest -`: one message on stdin,
matched by the failed address, no VERP token), into a list where every address the corpus names is a
subscriber. What each message recorded is read back from the events. The corpus is written by hand, message by
message, as those servers send them: the figures say what the recogniser does on these formats and languages,
not on a mailbox it has never seen.

Speed: the baseline is the email package parsing the same bytes (what any reader of the mailbox pays); the
ratios show what classifying (DSN, ARF, flufl.bounce, phrase tables, junk checks) and then the store add on top.
Each copy of a message gets its own subscriber by rewriting the address in its bytes; an address inside a base64
or quoted-printable part keeps its corpus form, so a few copies match nobody (counted as unmatched).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bulletin import config as config_mod  # noqa: E402
from bulletin.bounces.ingest import ingest  # noqa: E402
from bulletin.bounces.parse import parse_report  # noqa: E402
from bulletin.bounces.sources import maildir_messages, stdin_message  # noqa: E402
from bulletin.store import queries  # noqa: E402
from bulletin.store.db import engine_for, session_scope  # noqa: E402
from bulletin.store.models import Delivery, Event, Send, Subscriber, Subscription  # noqa: E402
from benchlib import reset_pg  # noqa: E402

CORPUS = ROOT / "tests" / "bounce_corpus"
HARD, SOFT = "bounce_hard", "bounce_soft"


@dataclass
class Case:
    """One corpus message and what a careful admin reads in it."""

    path: Path
    expect: str  # "bounce", "complaint" or the reason it is skipped
    language: str = "en"
    hard: list[str] = field(default_factory=list)
    soft: list[str] = field(default_factory=list)
    at_stake: list[str] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        return self.hard + self.soft + self.at_stake


def cases() -> list[Case]:
    """The whole corpus: expected.toml (formats, complaints, junk) and world.toml (languages and classes)."""
    out = []
    expected = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
    for name, e in expected.items():
        if name == "junk":
            continue
        case = Case(CORPUS / name, e["kind"])
        if e["kind"] == "complaint":
            case.at_stake.append(e["address"])
        else:
            (case.hard if e["hard"] else case.soft).append(e["address"])
        out.append(case)
    out += [Case(CORPUS / "junk" / name, reason) for name, reason in expected["junk"].items()]
    world = tomllib.loads((CORPUS / "world.toml").read_text(encoding="utf-8"))
    for name, e in world.items():
        case = Case(CORPUS / name, e["expect"], e["language"], at_stake=list(e.get("at_stake", [])))
        for f in e.get("failures", []):
            (case.hard if f["hard"] else case.soft).append(f["address"])
        out.append(case)
    return out


def _setup(engine, addresses: set[str]) -> dict[int, str]:
    with session_scope(engine) as s:
        ml = queries.create_list(s, "actualites", "Actualités")
        send = Send(issue_slug="2023-07", issue_dir="issues/2023-07", list_id=ml.id, state="done")
        s.add(send)
        s.flush()
        emails = {}
        for address in sorted(addresses):
            sub = Subscriber(email=address, email_key=address.lower(), language="fr")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=ml.id))
            s.add(Delivery(send_id=send.id, subscriber_id=sub.id, email=address, language="fr", status="sent"))
            emails[sub.id] = address
        return emails


def recognition(folder: Path) -> None:
    """Pipe every corpus message in alone and print what it recorded against what it should have."""
    all_cases = cases()
    cfg = config_mod.from_mapping({"database": {"url": f"sqlite:///{folder / 'corpus.db'}"}}, path=folder / "b.toml")
    engine = engine_for(cfg.database_url)
    emails = _setup(engine, {a.lower() for c in all_cases for a in c.addresses})
    last_event = 0
    permanent = recognised = 0
    by_language: dict[str, Counter] = defaultdict(Counter)
    missed: list[str] = []
    soft_total = soft_right = soft_as_hard = 0
    delay_total = delay_marked = delay_soft = 0
    junk_total = junk_marked = 0
    wrong_address = 0
    for case in all_cases:
        raw = case.path.read_bytes()
        ingest(engine, cfg, stdin_message(io.BytesIO(raw), cfg.bounces.max_message_bytes))
        with session_scope(engine) as s:
            rows = s.execute(select(Event.id, Event.subscriber_id, Event.kind).where(Event.id > last_event)).all()
        last_event = max([last_event, *(r.id for r in rows)])
        recorded = [(emails[r.subscriber_id], r.kind) for r in rows]
        hard_marked = {a for a, kind in recorded if kind == HARD}
        any_marked = {a for a, _ in recorded}
        name = str(case.path.relative_to(CORPUS))
        for address in case.hard:
            permanent += 1
            by_language[case.language]["permanent"] += 1
            if address.lower() in hard_marked:
                recognised += 1
                by_language[case.language]["recognised"] += 1
            else:
                missed.append(f"{name} ({address})")
        for address in case.soft:
            soft_total += 1
            soft_right += (address.lower(), SOFT) in recorded
            soft_as_hard += address.lower() in hard_marked
        named = case.hard + case.soft + (case.at_stake if case.expect == "complaint" else [])
        wrong_address += len(any_marked - {a.lower() for a in named})
        if case.expect == "delay_warning":
            delay_total += 1
            delay_marked += bool(hard_marked)
            delay_soft += bool(any_marked - hard_marked)
        elif case.expect not in ("bounce", "complaint"):
            junk_total += 1
            junk_marked += bool(any_marked)
    print(f"corpus: {len(all_cases)} messages, {permanent} permanently failed addresses, {soft_total} temporary "
          f"failures, {delay_total} delay warnings, {junk_total} other messages that are not bounces")
    print(f"permanent failures recognised:   {recognised}/{permanent} = {recognised / permanent:6.1%}")
    for language, n in sorted(by_language.items()):
        print(f"    {language}: {n['recognised']}/{n['permanent']}")
    print(f"temporary failures kept soft:    {soft_right}/{soft_total} (recorded hard: {soft_as_hard})")
    print(f"delay warnings wrongly marked:   {delay_marked}/{delay_total} (recorded as soft bounces: {delay_soft})")
    print(f"other junk that recorded a bounce: {junk_marked}/{junk_total}")
    print(f"bounces recorded for an address the message does not name as failed: {wrong_address}")
    for line in missed:
        print(f"    missed: {line}")


def mailbox(messages: int) -> list[tuple[bytes, str | None]]:
    """`messages` distinct messages, each with its own Message-ID and its own subscriber."""
    samples = [(c.path.read_bytes(), (c.hard + c.soft + c.at_stake or [None])[0]) for c in cases()]
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
    _setup(engine, {address for _raw, address in mail if address})
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


def speed(messages: int, pg: str | None) -> None:
    mail = mailbox(messages)
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
    if pg:
        reset_pg(pg)
        with tempfile.TemporaryDirectory() as tmp:
            seconds = bench_ingest(pg, mail, Path(tmp))
            print(f"ingest from Maildir, PostgreSQL: {n / seconds:8.0f} msg/s  {seconds / baseline:5.2f}x baseline time")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000, help="messages for the speed figures (0: none)")
    parser.add_argument("--pg", metavar="URL", help="also ingest into this PostgreSQL database (its schema is dropped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        recognition(Path(tmp))
    if args.messages:
        speed(args.messages, args.pg)


if __name__ == "__main__":
    main()
