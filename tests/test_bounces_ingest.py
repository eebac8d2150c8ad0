"""Ingestion on SQLite and PostgreSQL: the corpus marks the right subscribers, junk marks nobody, soft bounces add
up within their window, VERP tokens map bounces, a second run counts nothing twice, and bad sources are clear
errors that change nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import mailbox
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bulletin.bounces import verp
from bulletin.bounces.ingest import ingest
from bulletin.bounces.sources import maildir_messages, mbox_messages
from bulletin.cli import main
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Delivery, Event, Send, Subscriber, Subscription

CORPUS = Path(__file__).parent / "bounce_corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
BOUNCES = {name: e for name, e in EXPECTED.items() if name != "junk"}
JUNK = EXPECTED["junk"]
# Addresses named in the corpus that are on the list but must never be marked by it.
BYSTANDERS = ["kadiatou.dembele@sotelma.ml"]
VERP_TEMPLATE = "bounces+{token}@imrap-mali.org"


def _setup(cfg, addresses: list[str]) -> tuple[int, dict[str, int]]:
    """A list with these subscribers and one send that went to all of them; returns the send and the ids."""
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        ml = queries.create_list(s, "bulletin-fr", "Bulletin IMRAP")
        ids = {}
        for address in addresses:
            sub = Subscriber(email=address, email_key=address.lower(), language="fr")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=ml.id, status="subscribed"))
            ids[address] = sub.id
        send = Send(issue_slug="2023-07", issue_dir="issues/2023-07", list_id=ml.id, state="done", total=len(ids))
        s.add(send)
        s.flush()
        for address, sid in ids.items():
            s.add(Delivery(send_id=send.id, subscriber_id=sid, email=address, language="fr", status="sent"))
        return send.id, ids


def _maildir(tmp_path: Path, messages: dict[str, bytes]) -> Path:
    box = tmp_path / "bounces"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True, exist_ok=True)
    for name, raw in messages.items():
        (box / "new" / name).write_bytes(raw)
    return box


def _corpus(send_id: int) -> dict[str, bytes]:
    return {
        name: (CORPUS / name).read_bytes().replace(b"X-Bulletin-Send: 1", f"X-Bulletin-Send: {send_id}".encode())
        for name in BOUNCES
    }


def _state(cfg) -> dict:
    """Everything ingestion may change: subscriber and subscription statuses and the events."""
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        return {
            "subscribers": dict(s.execute(select(Subscriber.email, Subscriber.status)).all()),
            "subscriptions": sorted(s.execute(select(Subscription.subscriber_id, Subscription.status)).all()),
            "events": s.scalar(select(func.count(Event.id))),
        }


def _all_addresses() -> list[str]:
    return sorted({e["address"] for e in BOUNCES.values()} | set(BYSTANDERS))


def test_corpus_marks_the_right_subscribers_and_keeps_the_reasons(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    send_id, ids = _setup(cfg, _all_addresses())
    box = _maildir(tmp_path, _corpus(send_id))
    engine = engine_for(cfg.database_url)

    summary = ingest(engine, cfg, maildir_messages(box))

    hard = {e["address"] for e in BOUNCES.values() if e["kind"] == "bounce" and e["hard"]}
    soft = {e["address"] for e in BOUNCES.values() if e["kind"] == "bounce" and not e["hard"]}
    complained = {e["address"] for e in BOUNCES.values() if e["kind"] == "complaint"}
    assert (summary.messages, summary.hard, summary.soft, summary.complaints) == (
        len(BOUNCES), len(hard), len(soft), len(complained),
    )
    assert summary.marked_bounced == len(hard) and summary.marked_complained == len(complained)
    assert summary.unmatched == 0 and not summary.skipped

    with session_scope(engine) as s:
        for address, sid in ids.items():
            sub = s.get(Subscriber, sid)
            subscription = s.scalar(select(Subscription).where(Subscription.subscriber_id == sid))
            events = s.scalars(select(Event).where(Event.subscriber_id == sid)).all()
            if address in hard:
                assert (sub.status, subscription.status) == ("bounced", "bounced"), address
                assert [e.kind for e in events] == ["bounce_hard"]
            elif address in soft:
                assert (sub.status, subscription.status) == ("active", "subscribed"), address
                assert [e.kind for e in events] == ["bounce_soft"]
            elif address in complained:
                assert (sub.status, subscription.status) == ("complained", "unsubscribed"), address
                assert [e.kind for e in events] == ["complaint"]
            else:
                assert (sub.status, subscription.status, events) == ("active", "subscribed", []), address
            for e in events:
                expected = next(x for x in BOUNCES.values() if x["address"] == address)
                assert expected["reason"].lower() in e.detail.lower()
                assert e.send_id == send_id and e.source.startswith("bounce:")

    # Done messages moved to cur/ flagged Seen: the next run reads nothing.
    assert not list((box / "new").iterdir())
    assert all(p.name.endswith(":2,S") for p in (box / "cur").iterdir())
    assert ingest(engine, cfg, maildir_messages(box)).messages == 0

    # The same messages again from an mbox file: recognised, nothing counted twice.
    before = _state(cfg)
    mbox_path = tmp_path / "again.mbox"
    box2 = mailbox.mbox(mbox_path)
    for raw in _corpus(send_id).values():
        box2.add(raw)
    box2.close()
    again = ingest(engine, cfg, mbox_messages(mbox_path))
    assert again.messages == len(BOUNCES) and again.duplicates == len(BOUNCES)
    assert again.hard == again.soft == again.complaints == 0
    assert _state(cfg) == before


def test_junk_is_skipped_counted_and_marks_nobody(db_url, make_config, tmp_path):
    cfg = make_config("[bounces]\nmax_message_bytes = 200000\n", db_url=db_url)
    _setup(cfg, _all_addresses())
    junk = {name: (CORPUS / "junk" / name).read_bytes() for name in JUNK}
    # A huge message: a real bounce for a subscriber, but too big to be read.
    junk["huge.eml"] = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes() + b"\n" + b"A" * 300_000
    box = _maildir(tmp_path, junk)
    before = _state(cfg)

    summary = ingest(engine_for(cfg.database_url), cfg, maildir_messages(box))

    expected = {}
    for reason in list(JUNK.values()) + ["too_large"]:
        expected[reason] = expected.get(reason, 0) + 1
    assert dict(summary.skipped) == expected
    assert summary.messages == len(junk)
    assert summary.hard == summary.soft == summary.complaints == summary.unmatched == 0
    assert _state(cfg) == before
    # Junk is consumed like any message, so it is not read again on every run.
    assert not list((box / "new").iterdir())


def _soft_bounce(address: str, n: int) -> bytes:
    raw = (CORPUS / "postfix-dsn-mailbox-full.eml").read_bytes()
    raw = raw.replace(b"moussa.keita@yahoo.fr", address.encode())
    return raw.replace(b"<20230704110240.7C2D9E01F3@mail.imrap-mali.org>", f"<soft-{n}@mail.imrap-mali.org>".encode())


def test_soft_bounces_mark_a_subscriber_only_n_within_the_window(db_url, make_config, tmp_path):
    cfg = make_config("[bounces]\nsoft_limit = 3\nsoft_window_days = 30\n", db_url=db_url)
    address = "moussa.keita@yahoo.fr"
    _, ids = _setup(cfg, [address])
    engine = engine_for(cfg.database_url)
    now = dt.datetime(2023, 7, 10, 12, 0, tzinfo=dt.timezone.utc)

    def feed(n: int, at: dt.datetime):
        box = _maildir(tmp_path / f"box{n}", {f"m{n}": _soft_bounce(address, n)})
        return ingest(engine, cfg, maildir_messages(box), now=at)

    feed(1, now - dt.timedelta(days=45))
    feed(2, now - dt.timedelta(days=40))
    feed(3, now - dt.timedelta(days=2))
    assert feed(4, now - dt.timedelta(days=1)).marked_bounced == 0  # 2 in the window, 2 outside it
    with session_scope(engine) as s:
        assert s.get(Subscriber, ids[address]).status == "active"
    third = feed(5, now)
    assert (third.soft, third.marked_bounced) == (1, 1)
    with session_scope(engine) as s:
        assert s.get(Subscriber, ids[address]).status == "bounced"
        kinds = s.scalars(select(Event.kind).where(Event.subscriber_id == ids[address])).all()
        assert kinds == ["bounce_soft"] * 5  # nothing deleted, every bounce kept


def _verp_bounce(secret: bytes, send_id: int, subscriber_id: int, failed_address: str) -> bytes:
    token = verp.encode(secret, send_id, subscriber_id)
    raw = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes()
    raw = raw.replace(b"Delivered-To: bounces@imrap-mali.org", f"Delivered-To: bounces+{token}@imrap-mali.org".encode())
    raw = raw.replace(b"X-Bulletin-Send: 1", b"X-Bulletin-Send: 999")  # the token, not the header, decides
    return raw.replace(b"aminata.traore@orange.ml", failed_address.encode())


def test_a_verp_token_maps_a_bounce_whatever_address_it_names(db_url, make_config, tmp_path):
    cfg = make_config(f'[delivery]\nreturn_path = "{VERP_TEMPLATE}"\n', db_url=db_url)
    send_id, ids = _setup(cfg, ["aminata.traore@orange.ml", "hawa.maiga@ikatelnet.net"])
    engine = engine_for(cfg.database_url)
    secret = cfg.signing_secret()
    # The server reports a forwarding address nobody subscribed with: only the token tells who it was.
    raw = _verp_bounce(secret, send_id, ids["aminata.traore@orange.ml"], "a.traore@forward.example")
    summary = ingest(engine, cfg, maildir_messages(_maildir(tmp_path / "a", {"m": raw})))
    assert (summary.hard, summary.marked_bounced, summary.unmatched) == (1, 1, 0)
    with session_scope(engine) as s:
        ev = s.scalar(select(Event).where(Event.subscriber_id == ids["aminata.traore@orange.ml"]))
        assert (ev.kind, ev.send_id) == ("bounce_hard", send_id)


def test_a_forged_verp_token_and_an_unknown_address_mark_nobody(db_url, make_config, tmp_path):
    cfg = make_config(f'[delivery]\nreturn_path = "{VERP_TEMPLATE}"\n[bounces]\nmatch_by_address = false\n', db_url=db_url)
    send_id, ids = _setup(cfg, ["aminata.traore@orange.ml"])
    engine = engine_for(cfg.database_url)
    before = _state(cfg)
    forged = _verp_bounce(b"another-secret", send_id, ids["aminata.traore@orange.ml"], "aminata.traore@orange.ml")
    # Without a token, and with address matching off, the failed address alone maps nothing.
    plain = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes()
    summary = ingest(engine, cfg, maildir_messages(_maildir(tmp_path, {"forged": forged, "plain": plain})))
    assert (summary.messages, summary.unmatched, summary.hard) == (2, 2, 0)
    assert _state(cfg) == before


def test_a_send_header_of_a_send_the_subscriber_was_not_in_is_ignored(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    send_id, ids = _setup(cfg, ["aminata.traore@orange.ml"])
    raw = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes().replace(b"X-Bulletin-Send: 1", b"X-Bulletin-Send: 4242")
    engine = engine_for(cfg.database_url)
    summary = ingest(engine, cfg, maildir_messages(_maildir(tmp_path, {"m": raw})))
    assert summary.marked_bounced == 1
    with session_scope(engine) as s:
        ev = s.scalar(select(Event).where(Event.subscriber_id == ids["aminata.traore@orange.ml"]))
        assert ev.send_id is None and ev.list_id is None


def test_cli_reads_one_message_from_stdin_with_the_envelope_recipient(make_config, sqlite_url, monkeypatch, capsys):
    cfg = make_config(f'[delivery]\nreturn_path = "{VERP_TEMPLATE}"\n[bounces]\nmatch_by_address = false\n', db_url=sqlite_url)
    send_id, ids = _setup(cfg, ["aminata.traore@orange.ml"])
    token = verp.encode(cfg.signing_secret(), send_id, ids["aminata.traore@orange.ml"])
    raw = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    status = main(["--config", str(cfg.path), "bounces", "ingest", "-", "--json",
                   "--recipient", f"bounces+{token}@imrap-mali.org"])
    assert status == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["messages"], out["bounced_hard"], out["marked_bounced"]) == (1, 1, 1)
    assert _state(cfg)["subscribers"]["aminata.traore@orange.ml"] == "bounced"


def test_cli_prints_a_summary_of_a_maildir(make_config, sqlite_url, tmp_path, capsys):
    cfg = make_config(db_url=sqlite_url)
    send_id, _ = _setup(cfg, _all_addresses())
    box = _maildir(tmp_path, _corpus(send_id))
    shutil.copy(CORPUS / "junk" / "out-of-office-outlook.eml", box / "new" / "ooo")
    assert main(["--config", str(cfg.path), "bounces", "ingest", str(box)]) == 0
    out = capsys.readouterr().out
    assert f"read {len(BOUNCES) + 1} messages" in out
    assert "auto-replies 1" in out


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda p: [str(p / "missing")], "no such Maildir folder or mbox file"),
        (lambda p: [str(p / "notes.txt")], "not an mbox file"),
        (lambda p: [str(p / "plain-dir")], "not a Maildir folder"),
        (lambda p: [], "give either SOURCE"),
        (lambda p: [str(p / "box"), "--imap"], "give either SOURCE"),
        (lambda p: ["--imap"], "no IMAP server configured"),
    ],
)
def test_cli_bad_sources_are_clear_errors_and_change_nothing(make_args, message, make_config, sqlite_url, tmp_path, capsys):
    cfg = make_config(db_url=sqlite_url)
    send_id, _ = _setup(cfg, _all_addresses())
    box = _maildir(tmp_path, _corpus(send_id))
    (tmp_path / "notes.txt").write_text("Réunion du comité, mardi 10h\n", encoding="utf-8")
    (tmp_path / "plain-dir").mkdir()
    before = _state(cfg)
    status = main(["--config", str(cfg.path), "bounces", "ingest", *make_args(tmp_path)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert _state(cfg) == before
    assert len(list((box / "new").iterdir())) == len(BOUNCES)


def test_a_complaint_takes_the_subscriber_off_every_list_once(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    send_id, ids = _setup(cfg, ["awa.ballo@yahoo.fr"])
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        other = queries.create_list(s, "partenaires", "Lettre aux partenaires")
        s.add(Subscription(subscriber_id=ids["awa.ballo@yahoo.fr"], list_id=other.id, status="subscribed"))
    raw = (CORPUS / "arf-abuse-yahoo.eml").read_bytes().replace(b"X-Bulletin-Send: 1", f"X-Bulletin-Send: {send_id}".encode())
    second = raw.replace(b"<arf-20230706142205-7781@arf.mail.yahoo.com>", b"<arf-second@arf.mail.yahoo.com>")
    summary = ingest(engine, cfg, maildir_messages(_maildir(tmp_path, {"1": raw, "2": second})))
    assert (summary.complaints, summary.marked_complained) == (2, 1)
    with session_scope(engine) as s:
        assert s.get(Subscriber, ids["awa.ballo@yahoo.fr"]).status == "complained"
        statuses = s.scalars(select(Subscription.status).where(Subscription.subscriber_id == ids["awa.ballo@yahoo.fr"])).all()
        assert statuses == ["unsubscribed", "unsubscribed"]
        kinds = s.scalars(select(Event.kind).where(Event.subscriber_id == ids["awa.ballo@yahoo.fr"])).all()
        assert kinds == ["complaint", "complaint"]


def test_a_mail_server_pipe_runs_the_real_command(make_config, sqlite_url):
    """As a Postfix pipe or procmail would: the message on stdin of a new `bulletin` process, exit status 0."""
    import subprocess

    cfg = make_config(db_url=sqlite_url)
    send_id, ids = _setup(cfg, ["aminata.traore@orange.ml"])
    raw = _corpus(send_id)["postfix-dsn-user-unknown.eml"]
    done = subprocess.run(
        [sys.executable, "-m", "bulletin", "--config", str(cfg.path), "bounces", "ingest", "-"],
        input=raw, capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert b"1 hard bounces" in done.stdout
    assert _state(cfg)["subscribers"]["aminata.traore@orange.ml"] == "bounced"
    # Junk piped in is taken too (exit 0, so the server does not bounce it back) and marks nobody.
    junk = (CORPUS / "junk" / "binary-garbage.eml").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "bulletin", "--config", str(cfg.path), "bounces", "ingest", "-", "--json"],
        input=junk, capture_output=True, timeout=60,
    )
    assert done.returncode == 0 and json.loads(done.stdout)["skipped"] == {"malformed": 1}
