"""Headers folded and encoded to the RFCs whatever the name or subject: every line within 998 octets (78 where it
can be folded), every encoded word within 75 characters, no header added, and parsing back gives the value."""

from __future__ import annotations

import email
import email.policy
import re
from email.header import decode_header, make_header
from email.utils import formataddr, parseaddr

from hypothesis import given, settings
from hypothesis import strategies as st

from bulletin.deliver import headers
from bulletin.deliver.message import MessageTemplate, Recipient
from bulletin.render.edition import RenderedEdition

ENCODED_WORD = re.compile(rb"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=400)


def build(name: str = "Awa Traoré", subject: str = "Bulletin — juillet", email_address: str = "awa@example.org",
          list_id: str = "Nouvelles <news.imrap-mali.org>", from_name: str = "IMRAP") -> bytes:
    edition = RenderedEdition("2023-07", "fr", subject, "", "", "Bonjour %%name%%\n")
    template = MessageTemplate(edition, from_name=from_name, from_address="bulletin@imrap-mali.org",
                               reply_to="contact@imrap-mali.org", list_id=list_id, send_id=3)
    return template.build(Recipient(email=email_address, name=name, message_id="bulletin.3.9@imrap-mali.org",
                                    unsubscribe_url="https://news.imrap-mali.org/unsubscribe/abc.def"))


def header_block(message: bytes) -> bytes:
    return message.split(b"\r\n\r\n", 1)[0]


def field(message: bytes, name: str) -> list[bytes]:
    """The lines of one header field, folding included."""
    lines = header_block(message).split(b"\r\n")
    start = next(i for i, line in enumerate(lines) if line.lower().startswith(name.lower().encode() + b":"))
    end = start + 1
    while end < len(lines) and lines[end][:1] in (b" ", b"\t"):
        end += 1
    return lines[start:end]


def value(message: bytes, name: str) -> str:
    joined = b"\r\n".join(field(message, name))
    return re.sub(r"\r\n(?=[ \t])", "", joined.decode("utf-8")).split(":", 1)[1].strip()


def decoded(text: str) -> str:
    """What an RFC 2047 reader shows (whitespace between adjacent encoded words is not part of the text)."""
    return str(make_header(decode_header(text)))


def check_rfc_limits(message: bytes, folded: tuple[str, ...]) -> None:
    for line in header_block(message).split(b"\r\n"):
        assert len(line) <= 998, line[:80]
    for name in folded:
        for line in field(message, name):
            assert len(line) <= 78, line
    for word in ENCODED_WORD.findall(header_block(message)):
        assert len(word) <= 75, word


SENT_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "Reply-To", "List-Id", "List-Unsubscribe",
                "List-Unsubscribe-Post", "X-Bulletin-Send", "MIME-Version", "Content-Type", "Content-Transfer-Encoding"]


@settings(max_examples=400, deadline=None)
@given(NAMES)
def test_any_name_is_folded_encoded_and_read_back(name):
    message = build(name=name)
    check_rfc_limits(message, ("To",))
    display, address = parseaddr(value(message, "To"))
    assert address == "awa@example.org"
    assert decoded(display) == headers.one_line(name).strip()
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    assert [k for k in parsed.keys()] == SENT_HEADERS, "no header added, none lost"


@settings(max_examples=200, deadline=None)
@given(NAMES.filter(lambda s: s.strip()))
def test_any_subject_is_folded_encoded_and_read_back(subject):
    message = build(subject=subject)
    check_rfc_limits(message, ("Subject",))
    assert decoded(value(message, "Subject")) == headers.one_line(subject).strip()


@settings(max_examples=100, deadline=None)
@given(NAMES.filter(lambda s: s.strip()))
def test_any_list_and_sender_name(name):
    """The list's name comes as deliver.context.list_id_header writes it (email.utils.formataddr)."""
    message = build(list_id=formataddr((name, "news.imrap-mali.org"), charset="utf-8"), from_name=name)
    check_rfc_limits(message, ("From", "List-Id"))
    display, ident = parseaddr(value(message, "List-Id"))
    assert ident == "news.imrap-mali.org" and decoded(display) == headers.one_line(name).strip()
    display, address = parseaddr(value(message, "From"))
    assert address == "bulletin@imrap-mali.org" and decoded(display) == headers.one_line(name).strip()


def test_a_200_character_name_from_the_public_form():
    """It used to be one 1,100-character encoded word on a 1,104-octet To line."""
    name = "Aïssata Fatoumata Bintou Kadiatou Traoré-Coulibaly " * 4
    message = build(name=name[:200])
    check_rfc_limits(message, ("To",))
    assert len(field(message, "To")) > 3
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert parsed["To"].addresses[0].addr_spec == "awa@example.org"


def test_a_name_that_looks_like_an_encoded_word_is_encoded():
    """Sent as it is, a lenient reader would decode it to a line break."""
    name = "=?utf-8?q?Awa=0D=0ABcc:_victim@example.org?="
    message = build(name=name)
    to = value(message, "To")
    assert name not in to and to.startswith("=?utf-8?b?")
    assert decoded(parseaddr(to)[0]) == name
    parsed = email.message_from_bytes(message, policy=email.policy.default)
    assert parsed["To"].addresses[0].display_name == name and parsed["Bcc"] is None


def test_plain_names_stay_readable_and_short_ones_on_one_line():
    assert headers.address("To", "John Smith", "john@example.com") == b"John Smith <john@example.com>"
    assert headers.address("To", "  ", "john@example.com") == b"<john@example.com>"
    assert headers.address("To", "O'Brien", "o@example.com") == b"O'Brien <o@example.com>"
    # Quotes, dots and commas are specials: encoded, not sent bare.
    assert headers.address("To", 'Smith, "Jack" J.', "j@example.com").startswith(b"=?utf-8?b?")
    long_plain = " ".join(["Mamadou"] * 15)
    folded = headers.address("To", long_plain, "m@example.org")
    assert b"=?" not in folded and all(len(line) <= 78 for line in (b"To: " + folded).split(b"\r\n"))


def test_an_ascii_subject_is_folded_at_its_spaces():
    subject = "Bulletin of the institute, July 2023: " + "news from Bamako, Mopti and Gao " * 5
    folded = headers.unstructured("Subject", subject)
    assert b"=?" not in folded
    assert all(len(line) <= 78 for line in (b"Subject: " + folded).split(b"\r\n"))
    assert re.sub(rb"\r\n(?=[ \t])", b"", folded).decode() == subject.strip()


def test_encoded_words_never_split_a_character():
    for text in ("é" * 100, "😀" * 50, "a" + "漢字" * 40, "x" * 7 + "é" * 60):
        words = headers.encoded_words(text, 60)
        assert len(words[0]) <= 60 and all(len(w) <= 75 for w in words)
        parts = [make_header(decode_header(w)) for w in words]  # each decodes on its own
        assert "".join(str(p) for p in parts) == text
