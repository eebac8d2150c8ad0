"""The SMTP transport: one reused connection (STARTTLS, TLS or plain, with authentication) per delivery thread.

Replies are sorted the way mail servers mean them: 4xx and dropped connections are temporary, 5xx for a
recipient or a message are permanent. A server that refuses our login or our sender refuses everybody, so
that stops the send (a DeliveryError) instead of marking every recipient failed.
"""

from __future__ import annotations

import smtplib
import socket
import ssl

from bulletin.deliver.transport import PermanentFailure, TemporaryFailure
from bulletin.errors import DeliveryError


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


def _failure(code: int, message: bytes | str) -> TemporaryFailure | PermanentFailure:
    kind = TemporaryFailure if 400 <= code < 500 else PermanentFailure
    return kind(_reply(code, message), code)


def _dot_stuff(message: bytes) -> bytes:
    """RFC 5321 4.5.2 transparency: a line that starts with a dot gets another. smtplib runs a regex for it
    (0.4 ms for 50 KB, and the CSS in an issue has such lines); bytes.replace does the same in 0.06 ms."""
    if message.startswith(b"."):
        message = b"." + message
    message = message.replace(b"\n.", b"\n..")
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def _end_data_and_reset(conn: smtplib.SMTP, data_code: int) -> None:
    if data_code == 354:  # a server that said go ahead to a transaction we abandon gets an empty message
        conn.send(b".\r\n")
        conn.getreply()
    conn._rset()


def _sendmail_pipelined(conn: smtplib.SMTP, envelope_from: str, recipients: list[str], message: bytes) -> dict:
    """RFC 2920: MAIL, RCPT and DATA in one write, then their replies: two round trips a message instead of four."""
    commands = [f"MAIL FROM:<{envelope_from}>\r\n"] + [f"RCPT TO:<{r}>\r\n" for r in recipients] + ["DATA\r\n"]
    conn.send("".join(commands))
    mail_code, mail_resp = conn.getreply()
    refused = {}
    for rcpt in recipients:
        code, resp = conn.getreply()
        if code not in (250, 251):
            refused[rcpt] = (code, resp)
    data_code, data_resp = conn.getreply()
    if mail_code != 250:
        _end_data_and_reset(conn, data_code)
        raise smtplib.SMTPSenderRefused(mail_code, mail_resp, envelope_from)
    if len(refused) == len(recipients):
        _end_data_and_reset(conn, data_code)
        raise smtplib.SMTPRecipientsRefused(refused)
    if data_code != 354:
        conn._rset()
        raise smtplib.SMTPDataError(data_code, data_resp)
    _send_data(conn, message)
    return refused


def _send_data(conn: smtplib.SMTP, message: bytes) -> None:
    """The message after a 354, dot-stuffed, and the server's verdict on it."""
    conn.send(_dot_stuff(message) + b".\r\n")
    code, resp = conn.getreply()
    if code != 250:
        conn._rset()
        raise smtplib.SMTPDataError(code, resp)


def _sendmail(conn: smtplib.SMTP, envelope_from: str, recipients: list[str], message: bytes) -> dict:
    """smtplib's sendmail for plain ASCII envelopes, without its per-message address parsing and regex, and
    pipelined where the server offers it; raises the same exceptions and returns the same refused dict."""
    if conn.has_extn("pipelining"):
        return _sendmail_pipelined(conn, envelope_from, recipients, message)
    conn.putcmd("mail", f"FROM:<{envelope_from}>")
    code, resp = conn.getreply()
    if code != 250:
        conn._rset() if code != 421 else conn.close()
        raise smtplib.SMTPSenderRefused(code, resp, envelope_from)
    refused = {}
    for rcpt in recipients:
        conn.putcmd("rcpt", f"TO:<{rcpt}>")
        code, resp = conn.getreply()
        if code not in (250, 251):
            refused[rcpt] = (code, resp)
        if code == 421:
            conn.close()
            raise smtplib.SMTPRecipientsRefused(refused)
    if len(refused) == len(recipients):
        conn._rset()
        raise smtplib.SMTPRecipientsRefused(refused)
    conn.putcmd("data")
    code, resp = conn.getreply()
    if code != 354:
        conn._rset()
        raise smtplib.SMTPDataError(code, resp)
    _send_data(conn, message)
    return refused


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
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self.tls_context = tls_context
        self._conn: smtplib.SMTP | None = None

    @classmethod
    def from_config(cls, cfg) -> SmtpTransport:
        s = cfg.smtp
        password = cfg.env_secret("smtp", s.password_env) if s.username else None
        return cls(s.host, s.port, security=s.security, username=s.username, password=password, timeout=s.timeout)

    def _connect(self) -> smtplib.SMTP:
        context = self.tls_context or ssl.create_default_context()
        try:
            if self.security == "ssl":
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            conn.ehlo()
            if self.security == "starttls":
                if not conn.has_extn("starttls"):
                    conn.close()
                    raise DeliveryError("the server does not offer STARTTLS", where="[smtp].security")
                conn.starttls(context=context)
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"the server refused the login: {_reply(e.smtp_code, e.smtp_error)}", where="[smtp].username")
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError("the server does not offer authentication (AUTH) here", where="[smtp].username")
        except smtplib.SMTPResponseException as e:
            raise _failure(e.smtp_code, e.smtp_error)
        except ssl.SSLError as e:
            raise DeliveryError(f"TLS failed with {self.host}:{self.port}: {e}", where="[smtp].security")
        except (OSError, smtplib.SMTPException) as e:
            raise TemporaryFailure(f"cannot connect to {self.host}:{self.port}: {e}")
        return conn

    def send(self, envelope_from: str, recipients: list[str], message: bytes) -> None:
        if self._conn is None:
            self._conn = self._connect()
        conn = self._conn
        try:
            # Bytes, not send_message(): the bytes were signed as they are and must not be refolded.
            if envelope_from.isascii() and all(r.isascii() for r in recipients):
                refused = _sendmail(conn, envelope_from, recipients, message)
            elif conn.has_extn("smtputf8"):
                refused = conn.sendmail(envelope_from, recipients, message, mail_options=["SMTPUTF8"])
            else:
                raise PermanentFailure("the server does not take internationalised addresses (no SMTPUTF8)")
        except smtplib.SMTPRecipientsRefused as e:
            code, text = next(iter(e.recipients.values()))
            raise _failure(code, text)
        except smtplib.SMTPSenderRefused as e:
            if 400 <= e.smtp_code < 500:
                raise _failure(e.smtp_code, e.smtp_error)
            raise DeliveryError(f"the server refused the sender {envelope_from}: {_reply(e.smtp_code, e.smtp_error)}",
                                where="[delivery].return_path")
        except smtplib.SMTPResponseException as e:
            if e.smtp_code in (421, -1):
                self._drop()
            raise _failure(e.smtp_code, e.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError, socket.timeout) as e:
            self._drop()
            raise TemporaryFailure(f"connection lost: {e or type(e).__name__}")
        if refused:
            code, text = next(iter(refused.values()))
            raise _failure(code, text)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()
