"""Reading bounce messages: every format of the corpus maps to the right address, hard or soft, with its reason;
junk is skipped with a reason and never raises."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.bounces import verp
from bulletin.bounces.parse import SKIP_REASONS, parse_report

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
def test_arbitrary_bytes_never_raise(raw):
    report = parse_report(raw)
    assert report.kind in ("bounce", "complaint", "skipped")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=4000), st.binary(min_size=1, max_size=40))
def test_a_damaged_bounce_never_raises(cut, noise):
    """A real bounce cut short or with bytes spliced in: read as something, never an exception."""
    raw = (CORPUS / "gmail-dsn-no-such-account.eml").read_bytes()
    damaged = raw[:cut] + noise + raw[cut + len(noise) :]
    report = parse_report(damaged)
    assert report.kind in ("bounce", "complaint", "skipped")
