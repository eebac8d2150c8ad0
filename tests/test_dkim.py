"""DKIM: signatures made with hashlib + cryptography verify with dkimpy, cover one-click, and break when altered."""

from __future__ import annotations

import dkim
import pytest

from bulletin.deliver.dkim import DkimSigner
from bulletin.deliver.message import MessageTemplate, Recipient
from bulletin.errors import ConfigError
from bulletin.render.edition import RenderedEdition
from tests.deliver_support import dkim_key

HTML = (
    "<html><body><p>Bonjour %%name%%,   voilà  l'édition de juillet</p>\n"
    + "<td style=\"padding:0\">Bamako \t — Mopti</td>   \n" * 400
    + '<a href="%%unsubscribe_url%%">Se désinscrire</a> · <a href="%%archive_url%%">Archive</a>\n</body></html>'
)
TEXT = "Bonjour %%name%%,\n\nLire en ligne : %%archive_url%%\nSe désinscrire : %%unsubscribe_url%%\n"


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    return dkim_key(tmp_path_factory.mktemp("dkim"))


def _signed(key, **recipient) -> bytes:
    path, _ = key
    signer = DkimSigner("imrap-mali.org", "bulletin", path.read_bytes())
    edition = RenderedEdition("2023-07", "fr", "Bulletin d'information de l'IMRAP — juillet 2023, édition spéciale "
                              "avec un sujet long qui se plie", "", HTML, TEXT)
    template = MessageTemplate(edition, from_name="IMRAP — Bamako", from_address="bulletin@imrap-mali.org",
                               reply_to="contact@imrap-mali.org", list_id="Nouvelles <news.imrap-mali.org>",
                               send_id=7, signer=signer)
    values = dict(email="awa@example.org", name="Awa Traoré", message_id="bulletin.7.1@imrap-mali.org",
                  unsubscribe_url="https://news.imrap-mali.org/unsubscribe/" + "Wz" * 60,
                  archive_url="https://news.imrap-mali.org/archive/2023-07")
    values.update(recipient)
    return template.build(Recipient(**values))


def _dns(record: bytes):
    def lookup(name, timeout=5):
        assert name == b"bulletin._domainkey.imrap-mali.org."
        return record

    return lookup


def test_signature_verifies_with_dkimpy_and_covers_one_click(key):
    message = _signed(key)
    assert dkim.verify(message, dnsfunc=_dns(key[1]))
    header = message.split(b"\r\n", 1)[0]
    tags = dict(t.strip().split(b"=", 1) for t in header.split(b":", 1)[1].split(b";"))
    signed = tags[b"h"].split(b":")
    for name in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id", b"list-unsubscribe",
                 b"list-unsubscribe-post", b"reply-to", b"content-type"):
        assert name in signed


@pytest.mark.parametrize(
    "old, new",
    [
        (b"List-Unsubscribe-Post: List-Unsubscribe=One-Click", b"List-Unsubscribe-Post: List-Unsubscribe=One-Clicks"),
        (b"List-Unsubscribe: <https://news.imrap-mali.org/unsubscribe/WzWz", b"List-Unsubscribe: <https://evil.example/unsubscribe/WzWz"),
        (b"Mopti</td>", b"Gao</td>"),
        (b"Subject: ", b"Subject: Re: "),
    ],
)
def test_signature_fails_when_a_signed_part_is_altered(key, old, new):
    message = _signed(key)
    assert old in message
    assert not dkim.verify(message.replace(old, new, 1), dnsfunc=_dns(key[1]))


def test_relaxed_canonicalisation_survives_refolding_and_trailing_spaces(key):
    """What relays commonly do to a message (refold a header, strip trailing blanks) keeps it valid."""
    message = _signed(key)
    refolded = message.replace(b"List-Id: Nouvelles <news", b"List-Id: Nouvelles\r\n  <news", 1)
    assert refolded != message
    assert dkim.verify(refolded, dnsfunc=_dns(key[1]))


def test_every_recipient_gets_a_valid_signature_of_its_own_bytes(key):
    for i, name in enumerate(["", "Moussa Koné", "O'Brien \"Bob\"", "  spaces  around  "]):
        message = _signed(key, name=name, email=f"u{i}@example.org", message_id=f"bulletin.7.{i}@imrap-mali.org")
        assert dkim.verify(message, dnsfunc=_dns(key[1])), name


def test_bad_key_files_are_rejected_clearly(tmp_path, make_config):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    cfg = make_config(f'[dkim]\ndomain = "imrap-mali.org"\nselector = "s1"\nprivate_key_file = "{bad}"\n')
    with pytest.raises(ConfigError, match="not a PEM RSA private key"):
        DkimSigner.from_config(cfg)
    cfg = make_config(f'[dkim]\ndomain = "imrap-mali.org"\nselector = "s1"\nprivate_key_file = "{tmp_path}/none.pem"\n')
    with pytest.raises(ConfigError, match="cannot read the DKIM private key"):
        DkimSigner.from_config(cfg)
    assert DkimSigner.from_config(make_config("")) is None
