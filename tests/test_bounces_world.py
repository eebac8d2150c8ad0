"""Bounces from the real world (tests/bounce_corpus/world.toml): each message of each language and class is read
as a careful admin reads it, by the rule of the expected trust; ingestion marks exactly the permanent failures,
and `--explain` says why, in the reader's language."""

from __future__ import annotations

import json
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from bulletin.bounces.ingest import ingest
from bulletin.bounces.parse import Kind, Skip, parse_report
from bulletin.bounces.sources import maildir_messages
from bulletin.cli import main
from bulletin.store import queries
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Event, Subscriber, Subscription

CORPUS = Path(__file__).parent / "bounce_corpus"
WORLD = tomllib.loads((CORPUS / "world.toml").read_text(encoding="utf-8"))
BOUNCES = {name: e for name, e in WORLD.items() if e["expect"] == "bounce"}
SKIPPED = {name: e for name, e in WORLD.items() if e["expect"] != "bounce"}
LANGUAGES = ("fr", "de", "es", "pt", "it", "nl")


def test_the_manifest_lists_every_message_and_covers_each_class_and_language():
    on_disk = {str(p.relative_to(CORPUS)) for p in (CORPUS / "world").rglob("*.eml")}
    assert on_disk == set(WORLD)
    assert len(WORLD) >= 60
    kinds = Counter((e["language"], e["expect"]) for e in WORLD.values())
    for language in LANGUAGES:
        assert kinds[(language, "bounce")] >= 3, language
        assert kinds[(language, "delay_warning")] >= 1, language
        assert kinds[(language, "auto_reply")] >= 1, language
    assert {e["expect"] for e in SKIPPED.values()} == {"delay_warning", "auto_reply", "challenge", "not_a_bounce"}
    assert {e["rule"] for e in BOUNCES.values()} == {"dsn", "flufl", "text", "returned-headers", "received-for"}
    hardness = Counter(f["hard"] for e in BOUNCES.values() for f in e["failures"])
    assert hardness[True] >= 40 and hardness[False] >= 8


@pytest.mark.parametrize("name", sorted(BOUNCES))
def test_a_bounce_names_its_address_class_status_and_rule(name):
    expected = BOUNCES[name]
    report = parse_report((CORPUS / name).read_bytes())
    assert report.kind == Kind.BOUNCE, [t.render("en") for t in report.trace]
    got = [(f.address.lower(), f.hard, f.status) for f in report.failures]
    assert got == [(f["address"], f["hard"], f["status"]) for f in expected["failures"]]
    assert [f.rule for f in report.failures] == [expected["rule"]] * len(expected["failures"])
    for failure in report.failures:
        assert expected["reason"].lower() in failure.reason.lower()
        assert failure.detail.startswith(failure.status)
    # The explanation names the address and the rule's words, in the reader's language.
    explained = report.trace[-1].render("en")
    assert explained.startswith(f"{report.failures[-1].address}: ")
    assert explained.endswith("hard bounce" if report.failures[-1].hard else "soft bounce")
    assert report.trace[-1].render("fr").endswith(
        "rebond définitif" if report.failures[-1].hard else "rebond temporaire"
    )


@pytest.mark.parametrize("name", sorted(SKIPPED))
def test_junk_of_the_world_is_skipped_with_its_reason(name):
    expected = SKIPPED[name]
    report = parse_report((CORPUS / name).read_bytes())
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip(expected["expect"]))
    assert report.failures == []
    assert report.trace and report.trace[-1].key.startswith("bounces.explain.")


def _setup(cfg, addresses):
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as s:
        ml = queries.create_list(s, "bulletin-fr", "Bulletin IMRAP")
        for address in sorted(addresses):
            sub = Subscriber(email=address, email_key=address.lower(), language="fr")
            s.add(sub)
            s.flush()
            s.add(Subscription(subscriber_id=sub.id, list_id=ml.id, status="subscribed"))
    return engine


def _maildir(folder: Path, names) -> Path:
    for sub in ("new", "cur", "tmp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(sorted(names)):
        shutil.copy(CORPUS / name, folder / "new" / f"{i:03d}-{Path(name).name}")
    return folder


def _everyone():
    return ({f["address"] for e in BOUNCES.values() for f in e["failures"]}
            | {a for e in SKIPPED.values() for a in e.get("at_stake", [])})


def test_ingesting_the_world_marks_exactly_the_permanent_failures(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    engine = _setup(cfg, _everyone())
    summary = ingest(engine, cfg, maildir_messages(_maildir(tmp_path / "box", WORLD)))

    hard = {f["address"] for e in BOUNCES.values() for f in e["failures"] if f["hard"]}
    soft = {f["address"] for e in BOUNCES.values() for f in e["failures"] if not f["hard"]}
    assert (summary.messages, summary.hard, summary.soft, summary.complaints) == (len(WORLD), len(hard), len(soft), 0)
    assert (summary.marked_bounced, summary.unmatched, summary.duplicates) == (len(hard), 0, 0)
    assert dict(summary.skipped) == dict(Counter(e["expect"] for e in SKIPPED.values()))
    with session_scope(engine) as s:
        status = dict(s.execute(select(Subscriber.email, Subscriber.status)).all())
        kinds = Counter(s.scalars(select(Event.kind)).all())
    assert {a for a, st in status.items() if st == "bounced"} == hard
    assert {a for a, st in status.items() if st != "bounced"} == _everyone() - hard
    assert kinds == Counter({"bounce_hard": len(hard), "bounce_soft": len(soft)})


def _explain(cfg, box, monkeypatch, capsys, lang: str, *extra: str) -> tuple[str, str]:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", lang)
    assert main(["--config", str(cfg.path), "bounces", "ingest", str(box), "--explain", *extra]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


EXPLAINED = [
    "world/fr/mdaemon-fr-entetes-retournes.eml",
    "world/de/gmx-warnung-verzoegert.eml",
    "world/fr/lettre-information-mots-de-rebond.eml",
    "world/es/buzon-lleno.eml",
]


def test_explain_says_what_was_recognised_by_which_rule_and_why_skipped(make_config, sqlite_url, tmp_path,
                                                                       monkeypatch, capsys):
    cfg = make_config(db_url=sqlite_url)
    _setup(cfg, ["b.keita@bureau-etudes-kayes.fr", "daouda.sangare@gmx.de", "adama.cisse@afribone.net.ml"])
    out, _ = _explain(cfg, _maildir(tmp_path / "box", EXPLAINED), monkeypatch, capsys, "C.UTF-8")
    assert "<MDAEMON-F202307031355.AA5539187md5001000000123@mail.bureau-etudes-kayes.fr>" in out
    assert ("  - b.keita@bureau-etudes-kayes.fr: recipient (To) of the returned message; the server's words name no "
            "address; status 5.1.1 written in the server's words: hard bounce\n"
            "  - b.keita@bureau-etudes-kayes.fr: marked bounced\n") in out
    assert "  - skipped as a delay warning: the text says “dies ist nur eine warnung” (de)\n" in out
    assert ("  - skipped: neither a delivery report nor from a mail system (From lettre@reseau-documentation.org); "
            "failure words a person or a newsletter wrote mark nobody\n") in out
    assert ("  - kadidia.coulibaly@uam.es: named in the server's words next to “4.2.2”; status 4.2.2 written in the "
            "server's words: soft bounce\n  - kadidia.coulibaly@uam.es: no subscriber has this address\n") in out
    assert out.endswith("read 4 messages: 1 hard bounces, 0 soft bounces, 0 complaints\n"
                        "marked 1 subscribers bounced, 0 complained\n"
                        "skipped 2 (delay warnings 1, not bounces 1), unmatched 1, already ingested 0\n")


def test_explain_speaks_the_terminal_language_and_keeps_json_on_stdout(make_config, sqlite_url, tmp_path,
                                                                     monkeypatch, capsys):
    cfg = make_config(db_url=sqlite_url)
    _setup(cfg, ["daouda.sangare@gmx.de"])
    box = _maildir(tmp_path / "box", ["world/de/gmx-warnung-verzoegert.eml", "world/de/gmx-empfaenger-unbekannt.eml"])
    out, err = _explain(cfg, box, monkeypatch, capsys, "fr_FR.UTF-8", "--json")
    assert json.loads(out)["marked_bounced"] == 1
    assert "  - ignoré, avertissement de retard : le texte dit « dies ist nur eine warnung » (de)\n" in err
    assert ("  - daouda.sangare@gmx.de : nommée dans le texte du serveur, à côté de « 5.1.1 » ; statut 5.1.1 écrit "
            "dans le texte du serveur : rebond définitif\n  - daouda.sangare@gmx.de : marqué en rebond\n") in err


MDAEMON = (CORPUS / "world/fr/mdaemon-fr-entetes-retournes.eml").read_bytes()
RELAY = (CORPUS / "world/fr/relais-received-for.eml").read_bytes()


def _keys(report) -> list[str]:
    return [t.key for t in report.trace]


def test_the_returned_recipient_counts_only_for_a_plain_failure_notice_with_a_reason():
    as_sent = parse_report(MDAEMON)
    assert [(f.address, f.rule) for f in as_sent.failures] == [("b.keita@bureau-etudes-kayes.fr", "returned-headers")]
    # Without the server's reason, the attached original alone marks nobody.
    no_reason = MDAEMON.replace(b"550 5.1.1 Compte inexistant sur ce serveur", b"Voir le message joint.")
    report = parse_report(no_reason)
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip.NOT_A_BOUNCE)
    assert _keys(report)[-2:] == ["bounces.explain.returned_headers.doubt", "bounces.explain.not_a_bounce.no_address"]
    # From a person, the same words and attachment are no failure notice at all.
    from_a_person = MDAEMON.replace(b'"Administrateur MDaemon" <MDaemon@', b'"Boubacar Keita" <b.keita@').replace(
        b"Return-Path: <>", b"Return-Path: <b.keita@bureau-etudes-kayes.fr>")
    report = parse_report(from_a_person)
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip.NOT_A_BOUNCE)
    assert _keys(report) == ["bounces.explain.not_a_bounce.person"]


def test_a_received_for_line_counts_only_when_it_names_one_recipient():
    assert [(f.address, f.rule) for f in parse_report(RELAY).failures] == [("assitan.toure@cnrst.ml", "received-for")]
    two = RELAY.replace(
        b"\tfor <assitan.toure@cnrst.ml>;",
        b"\tfor <assitan.toure@cnrst.ml>; Mon, 3 Jul 2023 12:02:17 +0000\n"
        b"Received: from filtre.cnrst.ml by mx2.cnrst.ml\n\tfor <secretariat@cnrst.ml>;",
    )
    report = parse_report(two)
    assert (report.kind, report.skipped) == (Kind.SKIPPED, Skip.NOT_A_BOUNCE)
    assert "bounces.explain.returned_headers.ambiguous" in _keys(report)
