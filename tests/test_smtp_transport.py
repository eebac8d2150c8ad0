"""The SMTP transport against aiosmtpd: STARTTLS and implicit TLS with authentication, a refused login,
a reused connection, and dot transparency (lines that start with a dot arrive intact)."""

from __future__ import annotations

import datetime as dt
import ssl

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bulletin.deliver.smtp import SmtpTransport
from bulletin.deliver.transport import PermanentFailure
from bulletin.errors import DeliveryError
from tests.deliver_support import Recorder, SmtpServer, free_port

MESSAGE = (b"From: <a@imrap-mali.org>\r\nTo: <b@example.org>\r\nSubject: dots\r\n\r\n"
           b".starts with a dot\r\n.\r\n..two\r\nend\r\n")


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1: the server's context and a client context that trusts it."""
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cafile=str(folder / "cert.pem"))
    return server, client


def _auth(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == b"imrap" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # TLS is implicit: aiosmtpd can't tell
@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_tls_and_login(tls, security):
    server_ctx, client_ctx = tls
    handler = Recorder()
    port = free_port()
    kwargs = dict(authenticator=_auth, auth_required=True)
    if security == "starttls":
        controller = Controller(handler, hostname="127.0.0.1", port=port, tls_context=server_ctx,
                                require_starttls=True, **kwargs)
    else:
        # Implicit TLS wraps aiosmtpd from outside: it cannot see the TLS, so it must not demand it for AUTH.
        controller = Controller(handler, hostname="127.0.0.1", port=port, ssl_context=server_ctx,
                                auth_require_tls=False, **kwargs)
    controller.start()
    try:
        good = SmtpTransport("127.0.0.1", port, security=security, username="imrap", password="s3cret",
                             tls_context=client_ctx, timeout=10)
        good.send("bounces@imrap-mali.org", ["b@example.org"], MESSAGE)
        good.send("bounces@imrap-mali.org", ["c@example.org"], MESSAGE)
        good.close()
        bad = SmtpTransport("127.0.0.1", port, security=security, username="imrap", password="wrong",
                            tls_context=client_ctx, timeout=10)
        with pytest.raises(DeliveryError, match="the server refused the login: 535"):
            bad.send("bounces@imrap-mali.org", ["b@example.org"], MESSAGE)
    finally:
        controller.stop()
    assert [r.rcpt for r in handler.received] == ["b@example.org", "c@example.org"]
    assert all(r.data == MESSAGE for r in handler.received), "dot-stuffed on the wire, intact on arrival"


def test_login_without_auth_on_the_server_is_a_clear_error():
    with SmtpServer(Recorder()) as server:
        t = SmtpTransport("127.0.0.1", server.port, username="imrap", password="x", timeout=10)
        with pytest.raises(DeliveryError, match="does not offer authentication"):
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)


def test_untrusted_certificate_is_a_clear_error(tls):
    server_ctx, _ = tls
    port = free_port()
    controller = Controller(Recorder(), hostname="127.0.0.1", port=port, tls_context=server_ctx)
    controller.start()
    try:
        t = SmtpTransport("127.0.0.1", port, security="starttls", timeout=10)
        with pytest.raises(DeliveryError, match="TLS failed with 127.0.0.1"):
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
    finally:
        controller.stop()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_connection_is_reused_and_a_550_keeps_it_usable(pipelining):
    handler = Recorder(perm_fail={"gone@example.org"}, pipelining=pipelining)
    with SmtpServer(handler) as server:
        t = SmtpTransport("127.0.0.1", server.port, timeout=10)
        t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
        with pytest.raises(PermanentFailure) as e:
            t.send("a@imrap-mali.org", ["gone@example.org"], MESSAGE)
        assert e.value.reply == "550 5.1.1 <gone@example.org>: no such user here" and e.value.code == 550
        t.send("a@imrap-mali.org", ["c@example.org"], MESSAGE)
        assert t._conn.has_extn("pipelining") == pipelining, "the path under test is the one taken"
        t.close()
    assert handler.mails == 3, "one MAIL per message"
    assert [r.rcpt for r in handler.received] == ["b@example.org", "c@example.org"]


@pytest.mark.parametrize("smtputf8", [False, True])
def test_internationalised_addresses_go_where_the_server_takes_them(smtputf8):
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, enable_SMTPUTF8=smtputf8)
    controller.start()
    try:
        t = SmtpTransport("127.0.0.1", port, timeout=10)
        if smtputf8:
            t.send("a@imrap-mali.org", ["andré@exemple.ml"], MESSAGE)
        else:
            with pytest.raises(PermanentFailure, match="no SMTPUTF8"):
                t.send("a@imrap-mali.org", ["andré@exemple.ml"], MESSAGE)
        t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)  # the connection is still good
        t.close()
    finally:
        controller.stop()
    assert [r.rcpt for r in handler.received] == (["andré@exemple.ml"] if smtputf8 else []) + ["b@example.org"]
