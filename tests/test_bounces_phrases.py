"""The phrase tables and what the words near an address say: folding, whole words, one class per phrase, a table
that is wrong fails loudly, a new language is a new file; status codes, reply codes and phrases ranked."""

from __future__ import annotations

import shutil
from collections import defaultdict

import pytest

from bulletin.bounces import evidence, phrases

LANGUAGES = ("de", "en", "es", "fr", "it", "nl", "pt")


def test_every_language_has_a_table_with_each_class():
    tables = phrases.tables()
    assert tables.languages == LANGUAGES
    for language in LANGUAGES:
        classes = {p.cls for p in tables.phrases if p.language == language}
        assert {"permanent", "temporary", "failure", "delay", "auto_reply", "original"} <= classes, language
        assert any(p.status == "5.1.1" for p in tables.phrases if p.language == language), language


def test_a_phrase_belongs_to_one_class_only():
    classes = defaultdict(set)
    for p in phrases.tables().phrases:
        classes[phrases.fold(p.text)].add(p.cls)
    assert {text: cls for text, cls in classes.items() if len(cls) > 1} == {}


def test_permanent_phrases_carry_permanent_statuses_and_temporary_ones_temporary():
    for p in phrases.tables().phrases:
        if p.cls == "permanent":
            assert p.status.startswith("5.") and p.hard, p
        elif p.cls == "temporary":
            assert p.status.startswith("4.") and not p.hard, p
        else:
            assert p.status == "", p


@pytest.mark.parametrize(
    "text, folded",
    [
        ("Boîte  du destinataire\npleine", "boite du destinataire pleine"),
        ("Empfänger unbekannt", "empfaenger unbekannt"),
        ("Empfaenger UNBEKANNT", "empfaenger unbekannt"),
        ("Größe überschritten", "groesse ueberschritten"),
        ("n’a pas pu être remis", "n'a pas pu etre remis"),
        ("Non\u00a0remis\u00a0:", "non remis :"),
        ("Usuário inexistente", "usuario inexistente"),
    ],
)
def test_folding(text, folded):
    assert phrases.fold(text) == folded


def test_phrases_match_whole_words_only():
    tables = phrases.tables()
    assert [m.phrase.text for m in tables.find(phrases.fold("550 User  Unknown."), "permanent")] == ["user unknown"]
    assert tables.find(phrases.fold("superuser unknownish"), "permanent") == []
    # The longest phrase wins where several start at the same place.
    match = tables.first(phrases.fold("Das Postfach des Empfängers ist voll."), "temporary")
    assert (match.phrase.text, match.phrase.status) == ("postfach des empfängers ist voll", "4.2.2")


def _write(folder, name, text):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


@pytest.mark.parametrize(
    "text, message",
    [
        ('failure = ["x"]\n', "sw.toml: no language"),
        ('language = "sw"\n[permanent]\n"4.2.2" = ["sanduku limejaa"]\n', "sw.toml: permanent: '4.2.2' is not a permanent"),
        ('language = "sw"\n[temporary]\n"full" = ["sanduku limejaa"]\n', "sw.toml: temporary: 'full' is not a temporary"),
        ('language = "sw"\nwords = ["x"]\n', "sw.toml: words: unknown key"),
        ('language = "sw"\ndelay = "bado"\n', "sw.toml: delay: expected a list of words"),
        ('language = "sw"\n[subject]\nbody = ["x"]\n', "sw.toml: subject: expected lists named failure, delay, auto_reply"),
    ],
)
def test_a_table_that_is_wrong_names_its_file_and_key(tmp_path, text, message):
    _write(tmp_path, "sw.toml", text)
    with pytest.raises(phrases.PhraseFileError, match="^" + message.replace("(", r"\(")):
        phrases.load(tmp_path)


def test_a_new_language_is_a_new_file(tmp_path):
    for path in phrases.FOLDER.glob("*.toml"):
        shutil.copy(path, tmp_path / path.name)
    _write(tmp_path, "sw.toml", 'language = "sw"\n[permanent]\n"5.1.1" = ["mtumiaji hajulikani"]\n')
    tables = phrases.load(tmp_path)
    assert "sw" in tables.languages
    match = tables.first(phrases.fold("Ujumbe haukufika: Mtumiaji hajulikani."), "permanent")
    assert (match.phrase.language, match.phrase.status) == ("sw", "5.1.1")


@pytest.mark.parametrize(
    "words, expected",
    [
        # A status code wins, wherever it sits in the words.
        ("550 5.1.1 <a@b.example>: Recipient address rejected: mailbox full", ("code", "5.1.1", True)),
        # RFC 3463: X.2.2 is a persistent transient failure, soft whatever its first digit.
        ("552 5.2.2 Quota dépassé", ("code", "5.2.2", False)),
        # A reply code gives the class; a phrase of the same class says what.
        ("550 Boite aux lettres inexistante", ("phrase", "5.1.1", True)),
        ("550 Requested action not taken: mailbox unavailable", ("reply", "5.0.0", True)),
        # A reply code and a phrase that disagree: the softer is believed, never hard on doubt.
        ("452 utilisateur inconnu", ("reply", "4.0.0", False)),
        ("552 Mailbox full", ("phrase", "4.2.2", False)),
        ("554: delivery error: dd La dirección de correo no existe", ("phrase", "5.1.1", True)),
        # A phrase that says only "permanent" comes after one that says what is wrong.
        ("Il s'agit d'une erreur permanente. Destinataire inconnu.", ("phrase", "5.1.1", True)),
        ("Il s'agit d'une erreur permanente.", ("general", "5.0.0", True)),
        ("Votre message n'a pas pu être remis.", ("failure", "", None)),
        # Not codes: an IP address, a time, an Orange reference number.
        ("host 196.200.60.12 at 14:40, OFR_416 [416]", None),
    ],
)
def test_the_strongest_evidence_in_a_servers_words(words, expected):
    found = evidence.best(words)
    assert (None if found is None else (found.rank, found.status, found.hard)) == expected
