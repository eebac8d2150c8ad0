"""Reading bounce messages: every format of the corpus maps to the right address, hard or soft, with its reason;
junk is skipped with a reason and never raises."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin import i18n
from bulletin.bounces import verp
from bulletin.bounces.parse import SKIP_REASONS, Kind, Rule, Skip, parse_report

CORPUS = Path(__file__).parent / "bounce_corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
BOUNCES = {name: e for name, e in EXPECTED.items() if name != "junk"}
JUNK = EXPECTED["junk"]


def test_corpus_and_manifest_agree():
    """Every message in the corpus folder is listed in expected.toml, and every listed file exists."""
    on_disk = {p.name for p in CORPUS.glob("*.eml")}
    junk_on_disk = {p.name for p in (CORPUS / "junk").glob("*.eml")}
    assert on_disk == set(BOUNCES)
    assert junk_on_disk == set(JUNK)
    assert len(on_disk) >= 10 and len(junk_on_disk) >= 8


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_corpus_message_is_read_as_expected(name):
    expected = BOUNCES[name]
    report = parse_report((CORPUS / name).read_bytes())
    assert report.kind == expected["kind"], report.skipped
    assert len(report.failures) == 1
    failure = report.failures[0]
    assert failure.address.lower() == expected["address"]
    assert failure.hard is expected["hard"]
    assert failure.status == expected["status"]
    assert expected["reason"].lower() in failure.reason.lower()
    # The raw reason is what the store keeps: status code first, then the server's words.
    assert failure.detail.startswith(expected["status"])
    assert expected["reason"].lower() in failure.detail.lower()


@pytest.mark.parametrize("name", sorted(JUNK))
def test_junk_is_skipped_with_its_reason(name):
    report = parse_report((CORPUS / "junk" / name).read_bytes())
    assert report.kind == "skipped"
    assert report.skipped == JUNK[name]
    assert report.skipped in SKIP_REASONS
    assert report.failures == []


def test_a_huge_message_is_skipped_without_being_parsed():
    raw = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes()
    huge = raw + b"\n" + b"x" * 2_000_000
    assert parse_report(huge, max_bytes=1_000_000).skipped == "too_large"
    # The same bounce under the limit is read: the size alone made the difference.
    assert parse_report(raw, max_bytes=1_000_000).kind == "bounce"


def test_the_returned_message_gives_the_send():
    report = parse_report((CORPUS / "gmail-dsn-no-such-account.eml").read_bytes())
    assert report.original is not None
    assert report.original["X-Bulletin-Send"] == "1"
    # Plain-text bounces quote the original in their body; its headers are found there too.
    qmail = parse_report((CORPUS / "qmail-plain.eml").read_bytes())
    assert qmail.original is not None and qmail.original["X-Bulletin-Send"] == "1"


def test_the_verp_address_is_found_where_servers_put_it():
    secret = b"s3cret"
    token = verp.encode(secret, 12, 345)
    address = f"bounces+{token}@imrap-mali.org"
    raw = (CORPUS / "postfix-dsn-user-unknown.eml").read_bytes()
    raw = raw.replace(b"Delivered-To: bounces@imrap-mali.org", f"Delivered-To: {address}".encode(), 1)
    report = parse_report(raw)
    tokens = [verp.token_from_address("bounces+{token}@imrap-mali.org", a) for a in report.envelope]
    decoded = [verp.decode(secret, t) for t in tokens if t]
    assert verp.VerpToken(12, 345) in decoded


def test_the_arf_original_mail_from_is_an_envelope_address():
    report = parse_report((CORPUS / "arf-abuse-yahoo.eml").read_bytes())
    assert "bounces@imrap-mali.org" in report.envelope


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_are_junk_with_a_named_reason(raw):
    """Random bytes are never a bounce or a complaint: skipped, with the reason said in words."""
    report = parse_report(raw)
    assert report.kind == Kind.SKIPPED
    assert report.skipped in SKIP_REASONS and report.failures == []
    assert report.trace[-1].key.startswith("bounces.explain.")


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_bytes_without_a_header_block_are_malformed(body):
    report = parse_report(b"\n" + body)
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip.MALFORMED)
    assert report.trace[-1] == i18n.Message("bounces.explain.malformed.no_headers")


GMAIL = (CORPUS / "gmail-dsn-no-such-account.eml").read_bytes()
#: Where the returned original starts, after the delivery report: damage there must not change the reading.
AFTER_REPORT = GMAIL.index(b"Content-Type: message/rfc822")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=AFTER_REPORT, max_value=len(GMAIL)), st.binary(min_size=1, max_size=40))
def test_damage_to_the_returned_original_does_not_change_the_bounce(at, noise):
    damaged = GMAIL[:at] + noise + GMAIL[at + len(noise) :]
    report = parse_report(damaged)
    assert [(f.address, f.hard, f.status, f.rule) for f in report.failures] == [
        ("fatoumata.diallo@gmail.com", True, "5.1.1", Rule.DSN)
    ]


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=AFTER_REPORT, max_value=len(GMAIL)))
def test_a_bounce_cut_short_after_its_report_is_still_read(cut):
    report = parse_report(GMAIL[:cut])
    assert [(f.address, f.hard, f.status) for f in report.failures] == [("fatoumata.diallo@gmail.com", True, "5.1.1")]


def test_a_bug_of_bulletins_own_is_not_hidden_as_junk(monkeypatch):
    """No catch-all: only what malformed input raises is caught, where it raises."""
    from bulletin.bounces import recognise

    def broken(notice, trace):
        raise RuntimeError("a bug in the recogniser")

    monkeypatch.setattr(recognise, "_from_delivery_report", broken)
    with pytest.raises(RuntimeError, match="a bug in the recogniser"):
        parse_report(GMAIL)


QMAIL_EMPTY_FROM = (
    b"Return-Path: <>\nFrom:\nTo: bounces@imrap-mali.org\nSubject: failure notice\nMessage-ID: <q1@mx.ucad.sn>\n\n"
    b"Hi. This is the qmail-send program at mx.ucad.sn.\n<cheick.ba@ucad.sn>:\n"
    b"Sorry, no mailbox here by that name. (#5.1.1)\n"
)


def test_a_header_flufl_bounce_cannot_read_is_named_and_the_other_rules_still_read_the_bounce():
    # flufl.bounce's detectors index an empty From header (IndexError): the report says so and goes on.
    report = parse_report(QMAIL_EMPTY_FROM)
    assert [(f.address, f.hard, f.status, f.rule) for f in report.failures] == [
        ("cheick.ba@ucad.sn", True, "5.1.1", Rule.TEXT)
    ]
    flufl = [t for t in report.trace if t.key == "bounces.explain.malformed.flufl"]
    assert flufl == [i18n.Message("bounces.explain.malformed.flufl", error="IndexError: list index out of range")]


def test_a_message_only_flufl_bounce_could_have_read_is_malformed_with_its_reason():
    junk = QMAIL_EMPTY_FROM.split(b"\n\n")[0] + b"\n\nNothing else here.\n"
    report = parse_report(junk)
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip.MALFORMED)
    assert report.trace[-1] == i18n.Message(
        "bounces.explain.malformed.unreadable", problem="flufl.bounce: IndexError: list index out of range"
    )
