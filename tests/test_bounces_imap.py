"""The IMAP source against a real Dovecot server started by the test: TLS (implicit and STARTTLS), the password
from the environment, messages flagged Seen only once ingested, and clear errors that change nothing."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bulletin.bounces.ingest import ingest
from bulletin.bounces.sources import imap_messages
from bulletin.cli import main
from bulletin.store.db import engine_for, session_scope
from bulletin.store.models import Event, Subscriber

from test_bounces_ingest import _corpus, _setup, _state

CORPUS = Path(__file__).parent / "bounce_corpus"
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
PASSWORD = "mot-de-passe-bamako"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _certificate(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder / "cert.pem"


class Dovecot:
    def __init__(self, root: Path, imaps_port: int, imap_port: int, cert: Path, process: subprocess.Popen):
        self.root, self.imaps_port, self.imap_port, self.cert, self.process = root, imaps_port, imap_port, cert, process

    def deliver(self, messages: dict[str, bytes]) -> None:
        """Put messages in the mailbox the way a delivery agent does: written to tmp/, renamed into new/."""
        maildir = self.root / "home" / "bounces" / "Maildir"
        owner = pwd.getpwnam("dovecot")
        for name, raw in messages.items():
            tmp = maildir / "tmp" / name
            tmp.write_bytes(raw)
            os.chown(tmp, owner.pw_uid, owner.pw_gid)
            os.rename(tmp, maildir / "new" / name)


@pytest.fixture
def dovecot():
    if DOVECOT is None or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("Dovecot is not installed: .ci/run installs dovecot-imapd")
        pytest.skip("needs Dovecot (apt-get install dovecot-imapd) and root to start it")
    # Not under pytest's tmp_path: its parents are private to root, and Dovecot's mail processes are not root.
    root = Path(tempfile.mkdtemp(prefix="bulletin-dovecot-"))
    root.chmod(0o755)
    cert = _certificate(root)
    owner = pwd.getpwnam("dovecot")
    for sub in ("tmp", "new", "cur"):
        (root / "home" / "bounces" / "Maildir" / sub).mkdir(parents=True)
    for path in [root / "home", *(root / "home").rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    (root / "users").write_text(f"bounces:{{PLAIN}}{PASSWORD}::::::\n")
    imaps_port, imap_port = _free_port(), _free_port()
    (root / "dovecot.conf").write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
"""
    )
    process = subprocess.Popen([DOVECOT, "-F", "-c", str(root / "dovecot.conf")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", imaps_port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"Dovecot did not start: {process.stderr.read().decode() if process.stderr else ''} {log}")
            time.sleep(0.1)
    try:
        yield Dovecot(root, imaps_port, imap_port, cert, process)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


def _imap_config(make_config, sqlite_url, server: Dovecot, *, security: str = "ssl", extra: str = ""):
    port = server.imaps_port if security == "ssl" else server.imap_port
    return make_config(
        f'[bounces]\nimap_host = "localhost"\nimap_port = {port}\nimap_security = "{security}"\n'
        f'imap_user = "bounces"\nimap_password_env = "IMRAP_BOUNCES_PASSWORD"\n{extra}',
        db_url=sqlite_url,
    )


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_ingest_from_imap_marks_subscribers_and_flags_messages_seen(security, dovecot, make_config, sqlite_url, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    monkeypatch.setenv("IMRAP_BOUNCES_PASSWORD", PASSWORD)
    cfg = _imap_config(make_config, sqlite_url, dovecot, security=security, extra="max_message_bytes = 200000\n")
    addresses = sorted({e["address"] for n, e in EXPECTED.items() if n != "junk"} | {"kadiatou.dembele@sotelma.ml"})
    send_id, ids = _setup(cfg, addresses)
    messages = _corpus(send_id)
    messages["ooo.eml"] = (CORPUS / "junk" / "out-of-office-outlook.eml").read_bytes()
    # A real bounce for a subscriber, but too big: judged by the server's RFC822.SIZE, never fetched.
    huge = messages["postfix-dsn-user-unknown.eml"].replace(b"aminata.traore@orange.ml", b"kadiatou.dembele@sotelma.ml")
    huge = huge.replace(b"<20230703091402.4F1A2C0A1B@", b"<huge@")
    messages["huge.eml"] = huge.replace(b"This is the mail system", b"Bamako " * 40_000 + b"\nThis is the mail system")
    assert len(messages["huge.eml"]) > 200_000
    dovecot.deliver(messages)
    engine = engine_for(cfg.database_url)

    summary = ingest(engine, cfg, imap_messages(cfg))

    assert summary.messages == len(messages)
    assert dict(summary.skipped) == {"auto_reply": 1, "too_large": 1}
    assert summary.hard + summary.soft + summary.complaints == len(messages) - 2
    with session_scope(engine) as s:
        assert s.get(Subscriber, ids["aminata.traore@orange.ml"]).status == "bounced"
        assert s.get(Subscriber, ids["awa.ballo@yahoo.fr"]).status == "complained"
        assert s.get(Subscriber, ids["kadiatou.dembele@sotelma.ml"]).status == "active"
    # Every message is flagged Seen now: the next run (cron) reads nothing.
    assert ingest(engine, cfg, imap_messages(cfg)).messages == 0
    # Dovecot keeps Seen messages in cur/ with the S flag.
    cur = list((dovecot.root / "home" / "bounces" / "Maildir" / "cur").iterdir())
    assert len(cur) == len(messages) and all("S" in p.name.rpartition(":2,")[2] for p in cur)


def _run_cli(cfg, capsys) -> tuple[int, str]:
    status = main(["--config", str(cfg.path), "bounces", "ingest", "--imap"])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    "password, trust, extra, message",
    [
        ("wrong-password", True, "", "refused the login of 'bounces'"),
        (None, True, "", "environment variable IMRAP_BOUNCES_PASSWORD is not set"),
        (PASSWORD, False, "", "certificate verify failed"),
        (PASSWORD, True, 'imap_folder = "Rebonds"\n', "no IMAP folder 'Rebonds'"),
    ],
)
def test_imap_mistakes_are_clear_errors_and_leave_the_mailbox_unread(
    password, trust, extra, message, dovecot, make_config, sqlite_url, monkeypatch, capsys
):
    if trust:
        monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    else:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    if password is None:
        monkeypatch.delenv("IMRAP_BOUNCES_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("IMRAP_BOUNCES_PASSWORD", password)
    cfg = _imap_config(make_config, sqlite_url, dovecot, extra=extra)
    send_id, _ = _setup(cfg, ["aminata.traore@orange.ml"])
    dovecot.deliver({"m1.eml": _corpus(send_id)["postfix-dsn-user-unknown.eml"]})
    before = _state(cfg)

    status, err = _run_cli(cfg, capsys)

    assert status == 1 and err.startswith("error: ") and message in err, err
    assert "Traceback" not in err
    assert _state(cfg) == before
    # The message is still unseen: with the mistake put right, it is read.
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.cert))
    monkeypatch.setenv("IMRAP_BOUNCES_PASSWORD", PASSWORD)
    fixed = _imap_config(make_config, sqlite_url, dovecot, extra="")
    summary = ingest(engine_for(fixed.database_url), fixed, imap_messages(fixed))
    assert (summary.messages, summary.hard) == (1, 1)
    with session_scope(engine_for(fixed.database_url)) as s:
        assert s.query(Event).count() == 1
