"""Per-recipient messages: the bytes decode to exactly the edition personalised for that recipient, with every
header the spec lists, and subscriber data can never break a header."""

from __future__ import annotations

import email
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.deliver.message import MessageTemplate, Recipient
from bulletin.render.edition import RenderedEdition


def _template(html: str, text: str, **kw) -> MessageTemplate:
    edition = RenderedEdition("2023-07", "fr", "Bulletin — juillet", "", html, text)
    return MessageTemplate(edition, from_name="IMRAP", from_address="bulletin@imrap-mali.org",
                           list_id="Nouvelles <news.imrap-mali.org>", send_id=3, **kw)


def _recipient(**kw) -> Recipient:
    values = dict(email="awa@example.org", name="Awa Traoré", message_id="bulletin.3.9@imrap-mali.org",
                  unsubscribe_url="http://localhost:8000/unsubscribe/abc.def", archive_url="http://localhost:8000/archive/2023-07")
    values.update(kw)
    return Recipient(**values)


def _parts(data: bytes):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    parts = [p for p in msg.walk() if p.get_content_maintype() == "text"]
    return msg, parts


def test_headers_and_structure():
    data = _template("<p>Bonjour %%name%%</p><a href=\"%%unsubscribe_url%%\">Se désinscrire</a>",
                     "Bonjour %%name%%\nSe désinscrire : %%unsubscribe_url%%").build(_recipient())
    msg, parts = _parts(data)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert msg["List-Unsubscribe"] == "<http://localhost:8000/unsubscribe/abc.def>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "Nouvelles <news.imrap-mali.org>"
    assert msg["Message-ID"] == "<bulletin.3.9@imrap-mali.org>"
    assert msg["X-Bulletin-Send"] == "3"
    assert str(msg["To"]) == "Awa Traoré <awa@example.org>"
    assert str(msg["Subject"]) == "Bulletin — juillet"
    assert len(msg.get_all("Date")) == 1 and len(msg.get_all("Message-ID")) == 1
    assert "http://localhost:8000/unsubscribe/abc.def" in parts[1].get_content()
    assert all(len(line) <= 78 for line in data.split(b"\r\n")[15:]), "body lines stay within 78 characters"
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_values_are_escaped_in_html_and_cannot_inject_headers():
    evil = 'Eve <b>"bold"</b>\r\nBcc: victim@example.org'
    data = _template("<p>Bonjour %%name%%</p>", "Bonjour %%name%%").build(_recipient(name=evil))
    msg, (text, html) = _parts(data)
    assert msg["Bcc"] is None
    assert "<b>" not in html.get_content() and "&lt;b&gt;&quot;bold&quot;&lt;/b&gt;" in html.get_content()
    assert 'Eve <b>"bold"</b>  Bcc: victim@example.org' in text.get_content()


marker = st.sampled_from(["%%name%%", "%%email%%", "%%unsubscribe_url%%", "%%archive_url%%"])
chunk = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=120)
body = st.lists(st.one_of(chunk, marker), max_size=12).map("".join)
value = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=90)


@settings(max_examples=150, deadline=None)
@given(html=body, text=body, name=value, url_tail=st.text("abcXYZ019-_.", max_size=200))
def test_decoded_parts_equal_the_edition_personalised(html, text, name, url_tail):
    """Whatever the edition holds, the quoted-printable pieces decode to exactly `RenderedEdition.personalise`."""
    edition = RenderedEdition("2023-07", "fr", "S", "", html or "<p></p>", text)
    template = MessageTemplate(edition, from_name="IMRAP", from_address="bulletin@imrap-mali.org")
    r = _recipient(name=name, unsubscribe_url="http://localhost:8000/unsubscribe/" + url_tail)
    values = {"unsubscribe_url": r.unsubscribe_url, "archive_url": r.archive_url, "name": name, "email": r.email}
    want_html, want_text = edition.personalise(values)
    _, (got_text, got_html) = _parts(template.build(r))

    def norm(s: str) -> str:  # MIME gives lines back with CRLF, and the CRLF before a boundary is the boundary's
        return s.replace("\r\n", "\n").rstrip("\n")

    assert norm(got_text.get_content()) == norm(want_text)
    assert norm(got_html.get_content()) == norm(want_html)


def test_send_simple_is_signed_and_goes_through_the_configured_smtp(make_config, tmp_path):
    """The web service's confirmation mails: text only or text + HTML, DKIM-signed, no list headers."""
    import dkim

    from bulletin.deliver.message import send_simple
    from tests.deliver_support import Recorder, SmtpServer, dkim_key, smtp_toml

    key_path, record = dkim_key(tmp_path)
    with SmtpServer(Recorder()) as server:
        cfg = make_config(smtp_toml(server.port) + f'\n[dkim]\ndomain = "imrap-mali.org"\nselector = "bulletin"\n'
                          f'private_key_file = "{key_path}"\n')
        send_simple(cfg, "new@example.org", "Confirmez votre inscription", "Cliquez : https://x/confirm/abc\n")
        send_simple(cfg, "new@example.org", "Confirm", "Click https://x/confirm/abc", "<p>Click <a href=x>here</a></p>")
        received = list(server.handler.received)
    assert [r.rcpt for r in received] == ["new@example.org"] * 2
    assert received[0].mail_from == "bulletin@imrap-mali.org", "no VERP token: the mail has no subscriber"
    for r in received:
        assert dkim.verify(r.data, dnsfunc=lambda name, timeout=5: record)
        assert r.message["List-Unsubscribe"] is None and r.message["Message-ID"]
    plain, rich = received[0].message, received[1].message
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().replace("\r\n", "\n") == "Cliquez : https://x/confirm/abc\n"
    assert str(plain["Subject"]) == "Confirmez votre inscription"
    assert [p.get_content_type() for p in rich.walk()][1:] == ["text/plain", "text/html"]


def test_send_simple_writes_to_the_outbox_by_default(make_config, tmp_path):
    from bulletin.deliver.message import send_simple

    cfg = make_config("")
    send_simple(cfg, "new@example.org", "Sujet", "Texte")
    (eml,) = (tmp_path / "outbox" / "new").iterdir()
    assert b"X-Envelope-To: new@example.org\r\n" in eml.read_bytes()
