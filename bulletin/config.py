"""The configuration: one TOML file, every key with a default, secrets read from environment variables.

Resolution order: `--config PATH`, else `$BULLETIN_CONFIG`, else `./bulletin.toml`, else built-in defaults,
so that every command works on a fresh checkout. `config.example.toml` documents every key below.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, get_type_hints

from bulletin.errors import ConfigError
from bulletin.i18n import Message
from bulletin.monthday import MonthDay

DEFAULT_FILE = "bulletin.toml"
ENV_VAR = "BULLETIN_CONFIG"


@dataclass
class Organisation:
    name: str = "Institut Malien de Recherche Action pour la Paix (IMRAP)"
    short_name: str = "IMRAP"
    address: str = "Badalabougou-Est, Avenue de l'UA, rue 27 porte 357 - Bamako, Mali"
    phone: str = "(223) 20.22.18.48"
    email: str = "contact@imrap-mali.org"
    website: str = "https://www.imrap-mali.org"
    logo: str = ""
    language: str = "fr"
    languages: list[str] = field(default_factory=lambda: ["fr", "en"])
    timezone: str = "Africa/Bamako"
    social: dict[str, str] = field(default_factory=dict)


@dataclass
class Database:
    url: str = "sqlite:///bulletin.db"


@dataclass
class Delivery:
    transport: str = "maildir"
    outbox: str = "outbox"
    from_address: str = "bulletin@imrap-mali.org"
    from_name: str = "IMRAP"
    reply_to: str = ""
    return_path: str = ""
    rate: float = 0.0
    connections: int = 1
    batch_size: int = 100
    retry_initial_seconds: float = 60.0
    retry_max_seconds: float = 3600.0
    retry_deadline_hours: float = 48.0
    claim_timeout_seconds: float = 600.0
    server_retry_initial_seconds: float = 10.0
    server_retry_max_seconds: float = 300.0
    spool: str = ""


@dataclass
class Smtp:
    host: str = "localhost"
    port: int = 25
    security: str = "none"
    username: str = ""
    password_env: str = "BULLETIN_SMTP_PASSWORD"
    timeout: float = 30.0


@dataclass
class Dkim:
    domain: str = ""
    selector: str = ""
    private_key_file: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.domain and self.selector and self.private_key_file)


@dataclass
class Web:
    base_url: str = "http://localhost:8000"
    host: str = "127.0.0.1"
    port: int = 8000
    secret_env: str = "BULLETIN_SECRET"
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    issues_dir: str = "issues"
    subscribe_lists: list[str] = field(default_factory=list)
    subscribe_limit_per_ip: int = 20
    subscribe_limit_per_address: int = 3
    uploads_dir: str = "uploads"
    upload_max_mb: int = 12


@dataclass
class Bounces:
    soft_limit: int = 3
    soft_window_days: int = 30
    match_by_address: bool = True
    max_message_bytes: int = 1_048_576
    imap_host: str = ""
    imap_port: int = 993
    imap_security: str = "ssl"
    imap_user: str = ""
    imap_password_env: str = "BULLETIN_IMAP_PASSWORD"
    imap_folder: str = "INBOX"


@dataclass
class Files:
    mode: str = "0600"

    @property
    def file_mode(self) -> int:
        """`mode` as bits (checked at load: owner read and write, no execute bits)."""
        return int(self.mode.strip().lstrip("0o") or "0", 8)


@dataclass
class Compose:
    max_edition_kb: int = 300


@dataclass
class Schedule:
    """The monthly rhythm: `day` empty means no monthly send. The issue of a month is [web].issues_dir/YYYY-MM."""

    day: str = ""
    time: str = "08:00"
    list: str = ""
    remind_days_before: int = 3
    # typing.List and a lambda: the field `list` above shadows the builtin in this class's body
    remind: List[str] = field(default_factory=lambda: [])

    @property
    def enabled(self) -> bool:
        return bool(self.day.strip())

    @property
    def month_day(self) -> MonthDay:
        return MonthDay.parse(self.day)

    @property
    def hour_minute(self) -> tuple[int, int]:
        hour, minute = self.time.strip().split(":")
        return int(hour), int(minute)

    def validate(self, where: str) -> None:
        """Each key checked at load; an error names the key and says what it takes."""
        if self.enabled:
            try:
                self.month_day
            except ValueError:
                raise ConfigError(Message("config.schedule.day", value=self.day), where=where)
            if not self.list.strip():
                raise ConfigError(Message("config.schedule.list"), where=where)
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", self.time.strip()):
            raise ConfigError(Message("config.schedule.time", value=self.time), where=where)
        if not 0 <= self.remind_days_before <= 27:
            raise ConfigError(Message("config.schedule.remind_days_before", value=self.remind_days_before),
                              where=where)
        from email_validator import EmailNotValidError, validate_email

        for address in self.remind:
            try:
                validate_email(address, check_deliverability=False)
            except EmailNotValidError as e:
                raise ConfigError(Message("config.schedule.remind", value=address, reason=str(e)), where=where)


@dataclass
class Config:
    organisation: Organisation = field(default_factory=Organisation)
    database: Database = field(default_factory=Database)
    delivery: Delivery = field(default_factory=Delivery)
    smtp: Smtp = field(default_factory=Smtp)
    dkim: Dkim = field(default_factory=Dkim)
    web: Web = field(default_factory=Web)
    bounces: Bounces = field(default_factory=Bounces)
    compose: Compose = field(default_factory=Compose)
    schedule: Schedule = field(default_factory=Schedule)
    files: Files = field(default_factory=Files)
    #: The file this configuration was read from, or None for the built-in defaults.
    path: Path | None = None

    @property
    def base_dir(self) -> Path:
        """Relative paths in the configuration are relative to the file's folder (the cwd without a file)."""
        return self.path.parent if self.path else Path.cwd()

    def resolve_path(self, value: str | Path) -> Path:
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_url(self) -> str:
        """`[database].url` with a relative SQLite path made relative to the configuration's folder."""
        url = self.database.url
        m = re.match(r"^(sqlite(?:\+\w+)?):///(?!/)(.+)$", url)
        if m and m.group(2) != ":memory:" and not m.group(2).startswith("file:"):
            return f"{m.group(1)}:///{self.resolve_path(m.group(2))}"
        return url

    @property
    def sqlite_file(self) -> Path | None:
        """The file of a SQLite database URL (None for other databases, memory and `file:` URIs)."""
        m = re.match(r"^sqlite(?:\+\w+)?:///([^?]+)(?:\?.*)?$", self.database_url)
        if not m or m.group(1) == ":memory:" or m.group(1).startswith("file:"):
            return None
        return Path(m.group(1))

    def env_secret(self, section: str, env_name: str, *, required: bool = True) -> str | None:
        """Read a secret from the environment variable that the configuration names."""
        value = os.environ.get(env_name) if env_name else None
        if value:
            return value
        if required:
            raise ConfigError(f"environment variable {env_name or '(none)'} is not set", where=f"[{section}]")
        return None

    def signing_secret(self) -> bytes:
        """The secret that signs unsubscribe and confirmation tokens.

        From `$[web].secret_env`; without it (a fresh checkout), a random secret is created once in
        `.bulletin-secret` beside the configuration, so links keep working across commands and restarts.
        """
        value = self.env_secret("web", self.web.secret_env, required=False)
        if value:
            return value.encode()
        path = self.resolve_path(".bulletin-secret")
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            pass
        # Written under a temporary name and linked into place: a process starting at the same moment either
        # wins and writes the secret, or loses and reads the winner's, never a half-written file.
        token = secrets.token_urlsafe(32).encode()
        tmp = path.with_name(f".bulletin-secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(token)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes().strip()
        finally:
            os.unlink(tmp)
        return token


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "path"}


def _check_value(section: str, key: str, value: Any, expected: Any, where: str, line: int | None) -> Any:
    origin = getattr(expected, "__origin__", None)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    kinds = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if expected in kinds:
        if type(value) is not expected:
            raise ConfigError(f"[{section}].{key} must be {kinds[expected]}, not {value!r}", where=where, line=line)
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[{section}].{key} must be a list of strings", where=where, line=line)
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"[{section}].{key} must be a table of strings", where=where, line=line)
        return dict(value)
    return value


def from_mapping(data: dict[str, Any], where: str = "<config>", path: Path | None = None, text: str = "") -> Config:
    """Build a Config from parsed TOML, rejecting unknown sections and keys (typos must not pass silently) and
    checking every value (bulletin.config_checks). `text`, the file's TOML, lets errors name the line."""
    from bulletin import config_checks

    lines = config_checks.key_lines(text)

    def locate(section: str, key: str) -> int | None:
        """The key's line, else its section's header (a key that is missing), else None."""
        return lines.get((section, key)) or lines.get((section, ""))

    cfg = Config(path=path)
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(SECTIONS)})", where=where,
                              line=locate(section, ""))
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table", where=where, line=locate(section, ""))
        target = getattr(cfg, section)
        hints = get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"unknown key [{section}].{key} (known: {', '.join(hints)})", where=where,
                                  line=locate(section, key))
            setattr(target, key, _check_value(section, key, value, hints[key], where, locate(section, key)))
    config_checks.validate(cfg, where, locate)
    return cfg


def load(path: str | Path | None = None) -> Config:
    """Load the configuration by the resolution order in this module's docstring."""
    if path is None:
        env = os.environ.get(ENV_VAR)
        if env:
            path = env
        elif Path(DEFAULT_FILE).is_file():
            path = DEFAULT_FILE
    if path is None:
        return from_mapping({}, where="<defaults>")
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("configuration file not found", where=p)
    except OSError as e:
        raise ConfigError(f"cannot read configuration file: {e.strerror}", where=p)
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError("configuration file is not UTF-8", where=p)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        raise ConfigError(f"invalid TOML: {e}", where=p, line=int(m.group(1)) if m else None)
    return from_mapping(data, where=str(p), path=p.resolve(), text=text)
