"""The SMTP transport: one reused connection (STARTTLS, TLS or plain, with authentication) per delivery thread.

Every reply of the server is read by one classifier (`classify`) and every message goes through one transaction
routine (`transaction`), pipelined (RFC 2920) or one command at a time by a flag: two code paths that disagreed
about a 421 were two bugs. Who is at fault decides the outcome (see transport.py): a recipient's 4xx or 5xx is
that recipient's; a 421 or a drop mid-transaction loses the connection and nothing else; a failure before any
transaction (connect, greeting, EHLO, TLS, login) is the server's. A server that refuses our sender refuses
everybody, so that stops the send (a DeliveryError) instead of marking every recipient failed.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from enum import StrEnum

from bulletin.deliver.transport import (
    ConnectionLost,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
)
from bulletin.config_checks import is_loopback
from bulletin.errors import BulletinError, DeliveryError


class Stage(StrEnum):
    """Where in the session a reply came: the classifier reads a code differently at each."""

    GREETING = "greeting"
    HELLO = "EHLO"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BODY = "end of data"
    RSET = "RSET"


#: The replies that mean yes at each stage.
_EXPECTED = {
    Stage.GREETING: (220,),
    Stage.HELLO: (250,),
    Stage.STARTTLS: (220,),
    Stage.AUTH: (235, 503),  # 503: already authenticated
    Stage.MAIL: (250,),
    Stage.RCPT: (250, 251),
    Stage.DATA: (354,),
    Stage.BODY: (250,),
    Stage.RSET: (250,),
}
#: Stages before any transaction: what fails there fails for every recipient alike.
_SESSION = frozenset({Stage.GREETING, Stage.HELLO, Stage.STARTTLS, Stage.AUTH})


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}".strip()


def classify(stage: Stage, code: int, message: bytes | str, server: str) -> BulletinError | None:
    """None when the reply means yes, else the failure to raise. The one place that reads a reply code."""
    if code in _EXPECTED[stage]:
        return None
    reply = _reply(code, message)
    if stage in _SESSION:
        if stage is Stage.AUTH:
            return ServerUnavailable(f"the server refused the login: {reply}", server, code, where="[smtp].username")
        return ServerUnavailable(f"{server} refused the session at {stage}: {reply}", server, code)
    if code == 421 or not 400 <= code < 600:
        # 421: the server is closing the channel (RFC 5321 3.8); anything else here is a session out of step.
        return ConnectionLost(f"connection lost at {stage}: {reply}", code)
    if stage is Stage.RSET:
        return ConnectionLost(f"the server could not reset the transaction: {reply}", code)
    if code < 500:
        return TemporaryFailure(reply, code)
    if stage is Stage.MAIL:
        return DeliveryError(f"the server refused the sender: {reply}", where="[delivery].return_path")
    return PermanentFailure(reply, code)


def _dot_stuff(message: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency: a line that starts with a dot gets another. smtplib runs a regex for it
    (0.4 ms for 50 KB, and the CSS in an issue has such lines); bytes.replace does the same in 0.06 ms."""
    if message.startswith(b"."):
        message = b"." + message
    message = message.replace(b"\n.", b"\n..")
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def _read(conn: smtplib.SMTP, stage: Stage, server: str) -> BulletinError | None:
    try:
        code, message = conn.getreply()
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        return ConnectionLost(f"connection lost at {stage}: {e or type(e).__name__}")
    return classify(stage, code, message, server)


def _write(conn: smtplib.SMTP, data: bytes, stage: Stage) -> None:
    try:
        conn.send(data)
    except (smtplib.SMTPServerDisconnected, OSError) as e:
        raise ConnectionLost(f"connection lost at {stage}: {e or type(e).__name__}")


def _fatal(problem: BulletinError | None) -> bool:
    """The connection is unusable after this."""
    return isinstance(problem, (ConnectionLost, ServerUnavailable))


def transaction(conn: smtplib.SMTP, envelope_from: str, recipients: list[str], message: bytes, *, server: str,
                pipelined: bool, utf8: bool = False) -> None:
    """MAIL, RCPT for each recipient, DATA, then the message: one routine for both ways of talking.

    Pipelined, the commands go in one write and their replies are read in order (two round trips a message
    instead of four); one at a time, each waits for the previous reply and the transaction stops at the first
    refusal. Raises the classifier's verdict; a refused transaction is reset, a lost connection is not touched
    (the caller drops it). With several recipients, the message goes to those accepted and the first refusal is
    raised after."""
    encoding = "utf-8" if utf8 else "ascii"
    option = " SMTPUTF8" if utf8 else ""
    commands = [(Stage.MAIL, f"MAIL FROM:<{envelope_from}>{option}\r\n".encode(encoding))]
    commands += [(Stage.RCPT, f"RCPT TO:<{r}>\r\n".encode(encoding)) for r in recipients]
    commands.append((Stage.DATA, b"DATA\r\n"))
    if pipelined:
        _write(conn, b"".join(line for _, line in commands), Stage.MAIL)
    refused: list[BulletinError] = []
    sender: BulletinError | None = None
    data: BulletinError | None = None
    go_ahead = False
    for stage, line in commands:
        if not pipelined:
            if sender is not None or (stage is Stage.DATA and len(refused) == len(recipients)):
                break  # nothing more to say in this transaction
            _write(conn, line, stage)
        problem = _read(conn, stage, server)
        if _fatal(problem):
            raise problem
        if stage is Stage.MAIL:
            sender = problem
        elif stage is Stage.RCPT:
            if problem is not None:
                refused.append(problem)
        else:
            data, go_ahead = problem, problem is None
    if sender is not None or len(refused) == len(recipients) or data is not None:
        if go_ahead:
            # A pipelining server said go ahead to a transaction without valid recipients: an empty message
            # ends it (it reaches nobody), then the reset.
            _write(conn, b".\r\n", Stage.BODY)
            ended = _read(conn, Stage.BODY, server)
            if _fatal(ended):
                raise ended
        reset(conn, server)
        raise sender or (refused[0] if len(refused) == len(recipients) else data)
    _write(conn, _dot_stuff(message) + b".\r\n", Stage.BODY)
    problem = _read(conn, Stage.BODY, server)
    if problem is not None:
        raise problem  # a final reply ends the transaction: nothing to reset
    if refused:
        raise refused[0]


def reset(conn: smtplib.SMTP, server: str) -> None:
    _write(conn, b"RSET\r\n", Stage.RSET)
    problem = _read(conn, Stage.RSET, server)
    if problem is not None:
        raise problem


@functools.cache
def _system_context() -> ssl.SSLContext:
    """The system's trusted certificates, loaded once (10 ms a connection otherwise); a context is shared safely."""
    return ssl.create_default_context()


class SmtpTransport:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        security: str = "none",
        username: str = "",
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
    ):
        if username and security == "none" and not is_loopback(host):
            raise DeliveryError(
                f"the login to {host} would cross the network in clear (no TLS): set security = \"starttls\" or "
                "\"ssl\" (only a server on this machine may take a login without TLS)",
                where="[smtp].security",
            )
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.tls_context = tls_context
        self.server = f"{host}:{port}"
        self._conn: smtplib.SMTP | None = None
        self._pipelined = False

    @classmethod
    def from_config(cls, cfg) -> SmtpTransport:
        s = cfg.smtp
        password = cfg.env_secret("smtp", s.password_env) if s.username else None
        return cls(s.host, s.port, security=s.security, username=s.username, password=password, timeout=s.timeout)

    def _session_failure(self, e: smtplib.SMTPResponseException, stage: Stage) -> BulletinError:
        return classify(stage, e.smtp_code, e.smtp_error, self.server) or ServerUnavailable(
            f"{self.server} refused the session at {stage}: {_reply(e.smtp_code, e.smtp_error)}", self.server)

    def open(self) -> None:
        if self._conn is not None:
            return
        context = self.tls_context or _system_context()
        stage = Stage.GREETING
        conn: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                conn = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            stage = Stage.HELLO
            conn.ehlo_or_helo_if_needed()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise DeliveryError("the server does not offer STARTTLS", where="[smtp].security")
                stage = Stage.STARTTLS
                conn.starttls(context=context)
                stage = Stage.HELLO
                conn.ehlo()
            if self.username:
                stage = Stage.AUTH
                conn.login(self.username, self.password or "")
        except smtplib.SMTPNotSupportedError:
            self._abandon(conn)
            raise DeliveryError("the server does not offer authentication (AUTH) here", where="[smtp].username")
        except smtplib.SMTPResponseException as e:  # a refusal at greeting, EHLO, STARTTLS or AUTH
            self._abandon(conn)
            raise self._session_failure(e, stage)
        except ssl.SSLError as e:
            self._abandon(conn)
            raise ServerUnavailable(f"TLS failed with {self.server}: {e}", self.server, where="[smtp].security")
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            self._abandon(conn)
            what = f"cannot connect to {self.server}" if stage is Stage.GREETING else \
                f"{self.server} dropped the connection at {stage}"
            raise ServerUnavailable(f"{what}: {e or type(e).__name__}", self.server)
        except smtplib.SMTPException as e:
            self._abandon(conn)
            if stage is Stage.AUTH:  # smtplib found no mechanism it shares with the server
                raise DeliveryError(f"no way to log in to {self.server}: {e}", where="[smtp].username")
            raise ServerUnavailable(f"{self.server} failed at {stage}: {e or type(e).__name__}", self.server)
        except BaseException:
            self._abandon(conn)
            raise
        self._conn = conn
        self._pipelined = conn.has_extn("pipelining")

    def send(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        self.open()
        conn = self._conn
        utf8 = not (envelope_from.isascii() and all(r.isascii() for r in recipients))
        if utf8 and not conn.has_extn("smtputf8"):
            raise PermanentFailure("the server does not take internationalised addresses (no SMTPUTF8)")
        try:
            # Bytes, not send_message(): the bytes were signed as they are and must not be refolded.
            transaction(conn, envelope_from, recipients, message, server=self.server, pipelined=self._pipelined,
                        utf8=utf8)
        except (TemporaryFailure, PermanentFailure, DeliveryError):
            raise  # the transaction was refused or reset: the connection is still good
        except BaseException:
            # Lost, or a bug: the session is in an unknown state, and a server discards a message whose end
            # never came.
            self._drop()
            raise

    @property
    def pipelined(self) -> bool:
        return self._pipelined

    @staticmethod
    def _abandon(conn: smtplib.SMTP | None) -> None:
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._abandon(conn)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()

