"""Every configuration value checked when the file is read, so that a wrong one stops the command at once with the
key's name, instead of failing every delivery later (a From with a line break, an IDN host in a header, port
99999, a rate of nan).

Values that headers and links need in ASCII are converted here: host names to punycode (IDNA 2008 with UTS 46,
as browsers do), in URLs and in the domains of addresses.
"""

from __future__ import annotations

import ipaddress
import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import idna

from bulletin.errors import ConfigError
from bulletin.i18n import Message

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DNS_LABELS = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?)*")
_FILE_MODE = re.compile(r"0?o?([0-7]{3})")
#: More recipients than this claimed at once would keep rows from other workers for minutes.
MAX_BATCH_SIZE = 10_000
MAX_CONNECTIONS = 100
SECONDS = Message("config.unit.seconds")


def is_loopback(host: str) -> bool:
    """The host is this machine: a password sent to it in clear never crosses a network."""
    import socket

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0].split("%")[0]).is_loopback for info in infos)


class Checker:
    """Raises ConfigError naming `[section].key` and, where the file has it, its line."""

    def __init__(self, where: str, locate: Callable[[str, str], int | None]):
        self.where = where
        self.locate = locate

    def fail(self, section: str, key: str, key_name: str, /, **values: object) -> None:
        """Raise the catalogue message `key_name`, its {key} the setting's name `[section].key`."""
        raise ConfigError(Message(key_name, key=f"[{section}].{key}", **values), where=self.where,
                          line=self.locate(section, key))

    # Text

    def one_line(self, section: str, key: str, value: str) -> None:
        if "\r" in value or "\n" in value:
            self.fail(section, key, "config.check.line_break")
        if any(unicodedata.category(c) == "Cc" and c != "\t" for c in value):
            self.fail(section, key, "config.check.control")

    def choice(self, section: str, key: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            self.fail(section, key, "config.check.choice", first=", ".join(repr(a) for a in allowed[:-1]),
                      last=repr(allowed[-1]), value=repr(value))

    def env_name(self, section: str, key: str, value: str) -> None:
        if not _ENV_NAME.fullmatch(value):
            self.fail(section, key, "config.check.env_name", value=repr(value))

    # Numbers

    def integer(self, section: str, key: str, value: int, low: int, high: int | None = None) -> None:
        if high is None and value < low:
            self.fail(section, key, "config.check.at_least", low=low, value=value)
        if high is not None and not low <= value <= high:
            self.fail(section, key, "config.check.range", low=low, high=high, value=value)

    def port(self, section: str, key: str, value: int) -> None:
        if not 1 <= value <= 65535:
            self.fail(section, key, "config.check.port", value=value)

    def number(self, section: str, key: str, value: float, *, positive: bool, unit: Message,
               note: Message | str = "") -> None:
        """A finite number of `unit`, more than 0 if `positive`, else 0 or more."""
        if not math.isfinite(value):
            self.fail(section, key, "config.check.finite", unit=unit, note=note, value=value)
        if positive and value <= 0:
            self.fail(section, key, "config.check.positive", unit=unit, note=note, value=f"{value:g}")
        if value < 0:
            self.fail(section, key, "config.check.non_negative", unit=unit, note=note, value=f"{value:g}")

    # Names and addresses

    def host(self, section: str, key: str, host: str) -> str:
        """`host` in ASCII: an IP address as it is, a name converted to punycode."""
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        try:
            ascii_host = idna.encode(host.rstrip("."), uts46=True).decode("ascii") if host else ""
        except idna.IDNAError:
            ascii_host = ""
        if not ascii_host or not _DNS_LABELS.fullmatch(ascii_host):
            self.fail(section, key, "config.check.host", value=repr(host))
        return ascii_host

    def url(self, section: str, key: str, value: str) -> str:
        """An http(s) URL with its host in ASCII (an IDN host in punycode), without query or fragment."""
        self.one_line(section, key, value)
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as e:
            self.fail(section, key, "config.check.url_invalid", value=repr(value), reason=str(e))
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname or " " in value:
            self.fail(section, key, "config.check.url", value=repr(value))
        if parts.username is not None or parts.password is not None:
            self.fail(section, key, "config.check.url_credentials", value=repr(value))
        host = self.host(section, key, parts.hostname)
        if ":" in host:
            host = f"[{host}]"
        netloc = host if port is None else f"{host}:{port}"
        return urlunsplit((parts.scheme.lower(), netloc, parts.path, parts.query, parts.fragment))

    def address(self, section: str, key: str, value: str, *, placeholder: str | None = None) -> str:
        """An email address with its domain in ASCII; `placeholder` ("{token}") may stand in its local part."""
        self.one_line(section, key, value)
        local, at, domain = value.rpartition("@")
        checked = local.replace(placeholder, "x") if placeholder else local
        if not at or not _LOCAL_PART.fullmatch(checked) or not domain or "[" in domain:
            self.fail(section, key, "config.check.address", value=repr(value))
        return f"{local}@{self.host(section, key, domain)}"

    # Paths

    def folder_path(self, section: str, key: str, path: Path) -> None:
        """`path` is a folder or can become one: neither it nor a parent is a file."""
        self._nothing_in_the_way(section, key, path, (path, *path.parents))

    def file_path(self, section: str, key: str, path: Path) -> None:
        """`path` is a file or can become one: it is no folder and no parent is a file."""
        if path.is_dir():
            self.fail(section, key, "config.check.is_folder", path=path)
        self._nothing_in_the_way(section, key, path, path.parents)

    def _nothing_in_the_way(self, section: str, key: str, path: Path, folders) -> None:
        for p in folders:  # the nearest that exists must be a folder
            try:
                if not p.exists():
                    continue
                if not p.is_dir():
                    if p == path:
                        self.fail(section, key, "config.check.is_file", path=path)
                    self.fail(section, key, "config.check.under_file", file=p, path=path)
            except OSError as e:
                self.fail(section, key, "config.check.unreadable", path=path, reason=e.strerror)
            return

    def file_mode(self, section: str, key: str, value: str) -> int:
        m = _FILE_MODE.fullmatch(value.strip())
        mode = int(m.group(1), 8) if m else -1
        if mode < 0 or mode & ~0o666 or mode & 0o600 != 0o600:
            self.fail(section, key, "config.check.file_mode", value=repr(value))
        return mode


def validate(cfg, where: str, locate: Callable[[str, str], int | None]) -> None:
    """Check every value of `cfg` (a Config), converting host names to ASCII; raises ConfigError."""
    c = Checker(where, locate)
    for section in ("organisation", "database", "delivery", "smtp", "dkim", "web", "bounces", "compose", "schedule",
                    "files"):
        values = getattr(cfg, section, None)
        for key, value in vars(values).items() if values is not None else ():
            items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else [value]
            for item in items:
                if isinstance(item, str):
                    c.one_line(section, key, item)

    org = cfg.organisation
    if not org.languages:
        c.fail("organisation", "languages", "config.check.languages")
    if org.language not in org.languages:
        c.fail("organisation", "language", "config.check.language", languages=", ".join(org.languages),
               value=repr(org.language))
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(org.timezone)
    except Exception:
        c.fail("organisation", "timezone", "config.check.timezone", value=repr(org.timezone))
    if org.email:
        org.email = c.address("organisation", "email", org.email)
    if org.website:
        org.website = c.url("organisation", "website", org.website)
    org.social = {name: c.url("organisation.social", name, url) for name, url in org.social.items()}

    database = cfg.database
    if not database.url:
        c.fail("database", "url", "config.check.database_url")
    sqlite_file = cfg.sqlite_file
    if sqlite_file is not None:
        c.file_path("database", "url", sqlite_file)

    d = cfg.delivery
    c.choice("delivery", "transport", d.transport, ("maildir", "smtp"))
    if d.transport == "maildir":
        c.folder_path("delivery", "outbox", cfg.resolve_path(d.outbox))
    d.from_address = c.address("delivery", "from_address", d.from_address)
    if d.reply_to:
        d.reply_to = c.address("delivery", "reply_to", d.reply_to)
    if d.return_path:
        d.return_path = c.address("delivery", "return_path", d.return_path, placeholder="{token}")
    c.number("delivery", "rate", d.rate, positive=False, unit=Message("config.unit.rate"),
             note=Message("config.note.no_limit"))
    c.integer("delivery", "connections", d.connections, 1, MAX_CONNECTIONS)
    c.integer("delivery", "batch_size", d.batch_size, 1, MAX_BATCH_SIZE)
    c.number("delivery", "retry_initial_seconds", d.retry_initial_seconds, positive=True, unit=SECONDS)
    c.number("delivery", "retry_max_seconds", d.retry_max_seconds, positive=True, unit=SECONDS)
    c.number("delivery", "retry_deadline_hours", d.retry_deadline_hours, positive=True, unit=Message("config.unit.hours"))
    c.number("delivery", "claim_timeout_seconds", d.claim_timeout_seconds, positive=True, unit=SECONDS)
    c.number("delivery", "server_retry_initial_seconds", d.server_retry_initial_seconds, positive=True, unit=SECONDS)
    c.number("delivery", "server_retry_max_seconds", d.server_retry_max_seconds, positive=True, unit=SECONDS)
    if d.spool:
        c.folder_path("delivery", "spool", cfg.resolve_path(d.spool))

    s = cfg.smtp
    if d.transport == "smtp" and not s.host:
        c.fail("smtp", "host", "config.check.smtp_host")
    if s.host:
        c.host("smtp", "host", s.host)
    c.port("smtp", "port", s.port)
    c.choice("smtp", "security", s.security, ("starttls", "ssl", "none"))
    c.env_name("smtp", "password_env", s.password_env)
    c.number("smtp", "timeout", s.timeout, positive=True, unit=SECONDS)
    if d.transport == "smtp" and s.username and s.security == "none" and not is_loopback(s.host):
        c.fail("smtp", "security", "config.check.login_without_tls", host=s.host)

    k = cfg.dkim
    given = [key for key in ("domain", "selector", "private_key_file") if getattr(k, key)]
    if given and len(given) < 3:
        missing = next(key for key in ("domain", "selector", "private_key_file") if key not in given)
        c.fail("dkim", missing, "config.check.dkim_missing")
    if k.domain:
        k.domain = c.host("dkim", "domain", k.domain)
    if k.selector and not _DNS_LABELS.fullmatch(k.selector):
        c.fail("dkim", "selector", "config.check.dns_name", value=repr(k.selector))

    w = cfg.web
    w.base_url = c.url("web", "base_url", w.base_url).rstrip("/")
    if urlsplit(w.base_url).query or urlsplit(w.base_url).fragment:
        c.fail("web", "base_url", "config.check.url_query", value=repr(w.base_url))
    if not w.host:
        c.fail("web", "host", "config.check.listen_host")
    c.port("web", "port", w.port)
    c.env_name("web", "secret_env", w.secret_env)
    c.integer("web", "session_idle_minutes", w.session_idle_minutes, 1)
    c.integer("web", "session_max_hours", w.session_max_hours, 1)
    c.integer("web", "subscribe_limit_per_ip", w.subscribe_limit_per_ip, 1)
    c.integer("web", "subscribe_limit_per_address", w.subscribe_limit_per_address, 1)
    c.integer("web", "upload_max_mb", w.upload_max_mb, 1, 1000)
    c.folder_path("web", "uploads_dir", cfg.resolve_path(w.uploads_dir))

    b = cfg.bounces
    c.integer("bounces", "soft_limit", b.soft_limit, 1)
    c.integer("bounces", "soft_window_days", b.soft_window_days, 1)
    c.integer("bounces", "max_message_bytes", b.max_message_bytes, 1)
    if b.imap_host:
        c.host("bounces", "imap_host", b.imap_host)
    c.port("bounces", "imap_port", b.imap_port)
    c.choice("bounces", "imap_security", b.imap_security, ("ssl", "starttls", "none"))
    c.env_name("bounces", "imap_password_env", b.imap_password_env)

    c.integer("compose", "max_edition_kb", cfg.compose.max_edition_kb, 1)
    try:
        cfg.schedule.validate(where)
    except ConfigError as e:  # its messages name the key: the line is the key's
        if e.line is None and isinstance(e.what, Message) and e.what.key.startswith("config.schedule."):
            e.line = locate("schedule", e.what.key.split(".")[2])
        raise
    c.file_mode("files", "mode", cfg.files.mode)


def key_lines(text: str) -> dict[tuple[str, str], int]:
    """(section, key) -> line of a TOML text, for errors that point at the line to fix; (section, "") is the
    section's header. A sub-table ([organisation.social]) is the key `social` of its section, and its own keys
    are in the section "organisation.social"."""
    lines: dict[tuple[str, str], int] = {}
    section = ""
    header = re.compile(r"\s*\[\s*([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\s*\]")
    key = re.compile(r"""\s*["']?([A-Za-z0-9_-]+)["']?\s*=""")
    for number, line in enumerate(text.splitlines(), start=1):
        if m := header.match(line):
            section = m.group(1) if m.group(2) is None else f"{m.group(1)}.{m.group(2)}"
            lines.setdefault((section, ""), number)
            if m.group(2) is not None:
                lines.setdefault((m.group(1), m.group(2)), number)
        elif (m := key.match(line)) and section:
            lines.setdefault((section, m.group(1)), number)
    return lines
