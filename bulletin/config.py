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
from typing import Any, get_type_hints

from bulletin.errors import ConfigError

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
    upload_max_mb: int = 50


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
class Compose:
    max_edition_kb: int = 300


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


def _check_value(section: str, key: str, value: Any, expected: Any, where: str) -> Any:
    origin = getattr(expected, "__origin__", None)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    kinds = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if expected in kinds:
        if type(value) is not expected:
            raise ConfigError(f"[{section}].{key} must be {kinds[expected]}, not {value!r}", where=where)
        return value
    if origin is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[{section}].{key} must be a list of strings", where=where)
        return value
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"[{section}].{key} must be a table of strings", where=where)
        return dict(value)
    return value


def _validate(cfg: Config, where: str) -> None:
    if cfg.delivery.transport not in ("maildir", "smtp"):
        raise ConfigError(f"[delivery].transport must be 'maildir' or 'smtp', not {cfg.delivery.transport!r}", where)
    if cfg.smtp.security not in ("starttls", "ssl", "none"):
        raise ConfigError(f"[smtp].security must be 'starttls', 'ssl' or 'none', not {cfg.smtp.security!r}", where)
    if cfg.delivery.rate < 0:
        raise ConfigError("[delivery].rate must be 0 (no limit) or a positive number of messages per second", where)
    for key in ("connections", "batch_size"):
        if getattr(cfg.delivery, key) < 1:
            raise ConfigError(f"[delivery].{key} must be at least 1", where)
    if cfg.bounces.imap_security not in ("ssl", "starttls", "none"):
        raise ConfigError(f"[bounces].imap_security must be 'ssl', 'starttls' or 'none', not {cfg.bounces.imap_security!r}", where)
    if cfg.bounces.soft_limit < 1 or cfg.bounces.soft_window_days < 1 or cfg.bounces.max_message_bytes < 1:
        raise ConfigError("[bounces].soft_limit, soft_window_days and max_message_bytes must be at least 1", where)
    if cfg.compose.max_edition_kb < 1:
        raise ConfigError("[compose].max_edition_kb must be at least 1", where)
    if cfg.organisation.language not in cfg.organisation.languages:
        raise ConfigError("[organisation].language must be one of [organisation].languages", where)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(cfg.organisation.timezone)
    except Exception:
        raise ConfigError(f"[organisation].timezone {cfg.organisation.timezone!r} is not a known time zone", where)
    if cfg.web.session_idle_minutes < 1 or cfg.web.session_max_hours < 1:
        raise ConfigError("[web].session_idle_minutes and session_max_hours must be at least 1", where)
    if not re.match(r"^https?://[^/\s]+", cfg.web.base_url):
        raise ConfigError(f"[web].base_url must be an http(s) URL, not {cfg.web.base_url!r}", where)
    cfg.web.base_url = cfg.web.base_url.rstrip("/")


def from_mapping(data: dict[str, Any], where: str = "<config>", path: Path | None = None) -> Config:
    """Build a Config from parsed TOML, rejecting unknown sections and keys (typos must not pass silently)."""
    cfg = Config(path=path)
    for section, values in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown section [{section}] (known: {', '.join(SECTIONS)})", where=where)
        if not isinstance(values, dict):
            raise ConfigError(f"[{section}] must be a table", where=where)
        target = getattr(cfg, section)
        hints = get_type_hints(type(target))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(f"unknown key [{section}].{key} (known: {', '.join(hints)})", where=where)
            setattr(target, key, _check_value(section, key, value, hints[key], where))
    _validate(cfg, where)
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
        cfg = Config()
        _validate(cfg, "<defaults>")
        return cfg
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError("configuration file not found", where=p)
    except OSError as e:
        raise ConfigError(f"cannot read configuration file: {e.strerror}", where=p)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("configuration file is not UTF-8", where=p)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column \d+\)", str(e))
        raise ConfigError(f"invalid TOML: {e}", where=p, line=int(m.group(1)) if m else None)
    return from_mapping(data, where=str(p), path=p.resolve())
