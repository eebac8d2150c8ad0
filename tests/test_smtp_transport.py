"""The SMTP transport against aiosmtpd: STARTTLS and implicit TLS with authentication, a refused login, a
reused connection, dot transparency, one classifier for every reply and a 421 at each stage on both paths."""

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

from bulletin.deliver.smtp import SmtpTransport, Stage, classify
from bulletin.deliver.transport import (
    ConnectionLost,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
)
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
        with pytest.raises(ServerUnavailable, match="the server refused the login: 535"):
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
        with pytest.raises(ServerUnavailable, match="TLS failed with 127.0.0.1"):
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


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
@pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA", "BODY"])
def test_a_421_mid_transaction_loses_only_the_connection(stage, pipelining):
    """The same verdict on both paths: the connection is closed, nothing was kept, the next message goes on a
    new connection."""
    handler = Recorder(pipelining=pipelining, closing={stage: lambda n: n == 1})
    with SmtpServer(handler) as server:
        t = SmtpTransport("127.0.0.1", server.port, timeout=10)
        with pytest.raises(ConnectionLost) as e:
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
        assert e.value.reply == f"connection lost at {Stage[stage]}: 421 4.3.2 " \
                                f"closing at {stage}, try again later"
        assert t._conn is None, "a connection the server is closing is not used again"
        t.send("a@imrap-mali.org", ["c@example.org"], MESSAGE)
        assert t.pipelined == pipelining, "the path under test is the one taken"
        t.close()
    assert handler.closed == {stage: 1}
    assert handler.stages["greeting"] == 2
    assert [r.rcpt for r in handler.received] == ["c@example.org"]


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_dropped_connection_is_lost_not_a_failure_of_the_recipient(pipelining):
    handler = Recorder(pipelining=pipelining, drop_every=1)
    with SmtpServer(handler) as server:
        t = SmtpTransport("127.0.0.1", server.port, timeout=10)
        with pytest.raises(ConnectionLost, match="connection lost at MAIL"):
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
        assert t._conn is None
    assert handler.drops == 1 and handler.received == []


def test_a_421_greeting_is_the_server_unavailable():
    handler = Recorder(closing={"greeting": lambda n: True})
    with SmtpServer(handler) as server:
        t = SmtpTransport("127.0.0.1", server.port, timeout=10)
        with pytest.raises(ServerUnavailable) as e:
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
    assert e.value.server == f"127.0.0.1:{server.port}"
    assert e.value.reply == f"127.0.0.1:{server.port} refused the session at greeting: 421 4.3.2 closing at " \
                            "greeting, try again later"
    assert handler.mails == 0


def test_a_closed_port_is_the_server_unavailable():
    port = free_port()
    t = SmtpTransport("127.0.0.1", port, timeout=10)
    with pytest.raises(ServerUnavailable, match=f"cannot connect to 127.0.0.1:{port}: .*[Rr]efused"):
        t.open()


def test_a_host_that_never_greets_is_the_server_unavailable_after_the_timeout():
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts connections; nobody ever answers them
        t = SmtpTransport("127.0.0.1", listener.getsockname()[1], timeout=0.3)
        with pytest.raises(ServerUnavailable, match="cannot connect to 127.0.0.1:.*timed out"):
            t.open()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-by-one", "pipelined"])
def test_a_4xx_to_mail_defers_that_message_and_keeps_the_connection(pipelining):
    handler = Recorder(pipelining=pipelining, refuse_sender="451 4.3.0 try that one later")
    with SmtpServer(handler) as server:
        t = SmtpTransport("127.0.0.1", server.port, timeout=10)
        with pytest.raises(TemporaryFailure) as e:
            t.send("a@imrap-mali.org", ["b@example.org"], MESSAGE)
        assert e.value.reply == "451 4.3.0 try that one later"
        conn = t._conn
        handler.refuse_sender = ""
        t.send("a@imrap-mali.org", ["c@example.org"], MESSAGE)
        assert t._conn is conn, "the same connection, reset"
        t.close()
    assert [r.rcpt for r in handler.received] == ["c@example.org"]


@pytest.mark.parametrize(
    "stage, code, verdict",
    [
        (Stage.GREETING, 421, ServerUnavailable), (Stage.GREETING, 554, ServerUnavailable),
        (Stage.HELLO, 421, ServerUnavailable), (Stage.STARTTLS, 454, ServerUnavailable),
        (Stage.AUTH, 535, ServerUnavailable), (Stage.AUTH, 454, ServerUnavailable),
        (Stage.MAIL, 421, ConnectionLost), (Stage.MAIL, 451, TemporaryFailure), (Stage.MAIL, 553, DeliveryError),
        (Stage.RCPT, 421, ConnectionLost), (Stage.RCPT, 450, TemporaryFailure), (Stage.RCPT, 550, PermanentFailure),
        (Stage.DATA, 421, ConnectionLost), (Stage.DATA, 451, TemporaryFailure), (Stage.DATA, 554, PermanentFailure),
        (Stage.BODY, 421, ConnectionLost), (Stage.BODY, 452, TemporaryFailure), (Stage.BODY, 552, PermanentFailure),
        (Stage.RSET, 500, ConnectionLost), (Stage.MAIL, -1, ConnectionLost), (Stage.RCPT, 354, ConnectionLost),
    ],
)
def test_one_classifier_reads_every_reply(stage, code, verdict):
    got = classify(stage, code, b"some words", "mx:25")
    assert type(got) is verdict


@pytest.mark.parametrize("stage, code", [(Stage.GREETING, 220), (Stage.MAIL, 250), (Stage.RCPT, 251),
                                         (Stage.DATA, 354), (Stage.BODY, 250), (Stage.AUTH, 235)])
def test_yes_is_yes(stage, code):
    assert classify(stage, code, b"ok", "mx:25") is None


@pytest.mark.parametrize("host", ["192.0.2.10", "2001:db8::25"])
def test_a_login_without_tls_to_another_host_is_refused(host):
    with pytest.raises(DeliveryError) as e:
        SmtpTransport(host, 587, security="none", username="imrap", password="s3cret")
    assert e.value.where == "[smtp].security"
    assert e.value.what.startswith(f"the login to {host} would cross the network in clear (no TLS)")


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_a_login_without_tls_to_this_machine_is_allowed(host):
    SmtpTransport(host, 587, security="none", username="imrap", password="s3cret")
    SmtpTransport("192.0.2.10", 587, security="starttls", username="imrap", password="s3cret")
