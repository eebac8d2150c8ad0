"""Where bounces arrive: a Maildir folder, an mbox file, an IMAP mailbox, or one message on standard input.

Each source yields `MailboxMessage`s; `done()` is called once a message's result is committed, so that a
Maildir message moves to cur/ and an IMAP message is flagged \\Seen only then (an interrupted run reads it
again, and the ingestion's duplicate check keeps it from counting twice).
"""

from __future__ import annotations

import imaplib
import mailbox
import os
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bulletin.config import Config
from bulletin.errors import BulletinError


class MailboxError(BulletinError):
    """A bounce source cannot be opened: not a Maildir or mbox, an IMAP server unreachable or refusing us."""


@dataclass
class MailboxMessage:
    where: str
    size: int
    read: Callable[[], bytes]
    done: Callable[[], None] = lambda: None


def open_source(path: str) -> Iterator[MailboxMessage]:
    """A Maildir folder or an mbox file, told apart by what is on disk."""
    p = Path(path)
    if p.is_dir():
        return maildir_messages(p)
    if p.is_file():
        return mbox_messages(p)
    raise MailboxError("no such Maildir folder or mbox file", where=path)


def maildir_messages(folder: Path) -> Iterator[MailboxMessage]:
    """Messages in new/, and in cur/ without the Seen flag; done() moves them to cur/ flagged Seen."""
    if not ((folder / "new").is_dir() and (folder / "cur").is_dir()):
        raise MailboxError("not a Maildir folder (it has no cur/ and new/)", where=folder)
    return _maildir_iter(folder)


def _maildir_iter(folder: Path) -> Iterator[MailboxMessage]:
    for sub in ("new", "cur"):
        for entry in sorted(os.scandir(folder / sub), key=lambda e: e.name):
            if not entry.is_file() or entry.name.startswith("."):
                continue
            base, _, info = entry.name.partition(":")
            if sub == "cur" and info.startswith("2,") and "S" in info[2:]:
                continue
            flags = "".join(sorted(set(info[2:] if info.startswith("2,") else "") | {"S"}))
            source = Path(entry.path)
            target = folder / "cur" / f"{base}:2,{flags}"
            yield MailboxMessage(
                where=str(source),
                size=entry.stat().st_size,
                read=source.read_bytes,
                done=lambda s=source, t=target: os.replace(s, t),
            )


def mbox_messages(path: Path) -> Iterator[MailboxMessage]:
    """Every message of an mbox file (read only: the duplicate check makes re-reading it harmless)."""
    with open(path, "rb") as f:
        head = f.read(5)
    if head and head != b"From ":
        raise MailboxError("not an mbox file (it does not start with a 'From ' line)", where=path)
    return _mbox_iter(path)


def _mbox_iter(path: Path) -> Iterator[MailboxMessage]:
    box = mailbox.mbox(path, create=False)
    try:
        for key in box.iterkeys():
            raw = box.get_bytes(key)
            yield MailboxMessage(where=f"{path}#{key + 1}", size=len(raw), read=lambda r=raw: r)
    finally:
        box.close()


def stdin_message(stream: BinaryIO, max_bytes: int) -> Iterator[MailboxMessage]:
    """One message piped in by a mail server or cron; reads at most one byte past the size limit."""
    raw = stream.read(max_bytes + 1)
    if len(raw) > max_bytes:
        # Drain the rest, so the piping server sees the message taken rather than a broken pipe.
        while stream.read(1 << 16):
            pass
    yield MailboxMessage(where="<stdin>", size=len(raw), read=lambda: raw)


def _imap_error(e: BaseException) -> str:
    text = e.args[0] if e.args else e
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def imap_messages(cfg: Config, ssl_context: ssl.SSLContext | None = None) -> Iterator[MailboxMessage]:
    """Unseen messages of `[bounces].imap_folder`, fetched without setting \\Seen until done()."""
    b = cfg.bounces
    if not b.imap_host:
        raise MailboxError("no IMAP server configured", where="[bounces].imap_host")
    password = cfg.env_secret("bounces", b.imap_password_env)
    context = ssl_context or ssl.create_default_context()
    where = f"imap://{b.imap_host}:{b.imap_port}"
    try:
        if b.imap_security == "ssl":
            conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(b.imap_host, b.imap_port, ssl_context=context, timeout=30)
        else:
            conn = imaplib.IMAP4(b.imap_host, b.imap_port, timeout=30)
            if b.imap_security == "starttls":
                conn.starttls(ssl_context=context)
    except (OSError, imaplib.IMAP4.error, ssl.SSLError) as e:
        raise MailboxError(f"cannot connect to the IMAP server: {e}", where=where)
    try:
        conn.login(b.imap_user, password)
    except imaplib.IMAP4.error as e:
        _logout(conn)
        raise MailboxError(f"the IMAP server refused the login of {b.imap_user!r}: {_imap_error(e)}", where=where)
    typ, data = conn.select(_quote(b.imap_folder))
    if typ != "OK":
        _logout(conn)
        raise MailboxError(f"no IMAP folder {b.imap_folder!r}: {_imap_error(Exception(*data))}", where=where)
    return _imap_iter(conn, where)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except (OSError, imaplib.IMAP4.error, socket.error):
        pass


_SIZE = re.compile(rb"UID (\d+).*RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*UID (\d+)")


def _imap_iter(conn: imaplib.IMAP4, where: str) -> Iterator[MailboxMessage]:
    try:
        yield from _imap_unseen(conn, where)
    except (OSError, imaplib.IMAP4.error) as e:
        # Messages ingested so far are flagged Seen; the rest are read on the next run.
        raise MailboxError(f"lost the IMAP connection: {_imap_error(e)}", where=where)
    finally:
        _logout(conn)


def _imap_unseen(conn: imaplib.IMAP4, where: str) -> Iterator[MailboxMessage]:
    typ, data = conn.uid("SEARCH", "UNSEEN")
    uids = data[0].split() if typ == "OK" and data and data[0] else []
    for uid in uids:
        typ, data = conn.uid("FETCH", uid, "(RFC822.SIZE)")
        size = 0
        for item in data or []:
            line = item[0] if isinstance(item, tuple) else item
            m = _SIZE.search(line or b"")
            if m:
                size = int(m.group(2) or m.group(3))
        yield MailboxMessage(
            where=f"{where}#{uid.decode()}",
            size=size,
            read=lambda uid=uid: _imap_call(where, _fetch, conn, uid, where),
            done=lambda uid=uid: _imap_call(where, conn.uid, "STORE", uid, "+FLAGS", "(\\Seen)"),
        )


def _fetch(conn: imaplib.IMAP4, uid: bytes, where: str) -> bytes:
    # BODY.PEEK leaves \Seen unset: a message counts as read only once its result is committed.
    _typ, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
    for part in parts or []:
        if isinstance(part, tuple):
            return part[1]
    raise MailboxError(f"the IMAP server did not return message {uid.decode()}", where=where)


def _imap_call(where: str, fn, *args):
    try:
        return fn(*args)
    except (OSError, imaplib.IMAP4.error) as e:
        raise MailboxError(f"lost the IMAP connection: {_imap_error(e)}", where=where)
