"""The accounts of the web workspace: who may sign in, with which role, for how long, and how often they may
get their password wrong.

Passwords are hashed with Argon2id (argon2-cffi, RFC 9106 parameters) after Unicode normalisation (NFC, as
RFC 8265 prescribes for passwords), so "é" typed on a phone and on a PC sign in alike. A session is a random
token in a cookie; the database keeps only its SHA-256, with the CSRF token of the session. Sign-in failures
are audit entries, and the throttle counts them: per address and per IP address, each failure past a few
doubles the wait before the next try, up to a ceiling. Time is always passed in (`now`), never read here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bulletin import i18n
from bulletin.errors import InvalidAddress, NotFoundError
from bulletin.services.audit import Action, Actor, record
from bulletin.services.errors import InputRefused
from bulletin.services.store import UnitOfWork
from bulletin.states import AccountStatus, Role
from bulletin.store import accounts as rows
from bulletin.store.addresses import normalise_email

MIN_PASSWORD = 10
#: Longer passwords are refused rather than hashed: a megabyte of "password" is a denial of service.
MAX_PASSWORD = 1024

_hasher = PasswordHasher()
#: Verified against when the address is unknown, so that a wrong address costs the time a wrong password does.
_DUMMY_HASH = _hasher.hash("bulletin: no such account")


class AccountError(InputRefused):
    """An account cannot be added or changed as asked; `message` says why in the reader's language."""

    def __init__(self, message: i18n.Message, where: str | None = None):
        super().__init__(message, field=where or "", where=where)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: Role
    status: AccountStatus
    created_at: dt.datetime
    last_sign_in_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.status == AccountStatus.ACTIVE

    def may(self, role: Role) -> bool:
        """Whether this account may do what `role` may: an admin may do everything an editor may."""
        return self.active and (self.role == Role.ADMIN or self.role == role)


def actor(account: Account, ip: str = "") -> Actor:
    """The audit log's name for what this account does (its address lower-cased, as sign-ins record it)."""
    return Actor(account.id, account.email.lower(), ip)


def _account(user) -> Account:
    return Account(user.id, user.email, Role(user.role), AccountStatus(user.status), user.created_at,
                   user.last_sign_in_at)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: `idle` since the person's last request, and `max_age` since sign-in."""

    idle: dt.timedelta = dt.timedelta(minutes=60)
    max_age: dt.timedelta = dt.timedelta(hours=12)
    #: last_seen is written at most this often (a write per page view would cost every page).
    touch_every: dt.timedelta = dt.timedelta(seconds=60)

    @classmethod
    def for_config(cls, cfg) -> SessionPolicy:
        return cls(idle=dt.timedelta(minutes=cfg.web.session_idle_minutes),
                   max_age=dt.timedelta(hours=cfg.web.session_max_hours))


@dataclass(frozen=True)
class Throttle:
    """The sign-in throttle: after `free_per_address` failures for one address (since its last success) or
    `free_per_ip` failures from one IP address, within `window`, the next try must wait `first_delay`, doubling
    with each further failure up to `max_delay`. Attempts refused while waiting are not failures."""

    free_per_address: int = 3
    free_per_ip: int = 10
    first_delay: dt.timedelta = dt.timedelta(seconds=1)
    max_delay: dt.timedelta = dt.timedelta(minutes=15)
    window: dt.timedelta = dt.timedelta(hours=1)

    def delay(self, failures: int, free: int) -> dt.timedelta:
        if failures < free:
            return dt.timedelta(0)
        return min(self.max_delay, self.first_delay * 2 ** min(failures - free, 30))


THROTTLE = Throttle()


def password_hash(password: str) -> str:
    return _hasher.hash(_normalised(password))


def _normalised(password: str) -> str:
    return unicodedata.normalize("NFC", password)


def check_password(password: str) -> str:
    """The password, normalised, if it may be one; else an AccountError saying what is wrong."""
    value = _normalised(password)
    if len(value) < MIN_PASSWORD:
        raise AccountError(i18n.Message("account.password.short", min=MIN_PASSWORD), where="password")
    if len(value) > MAX_PASSWORD:
        raise AccountError(i18n.Message("account.password.long", max=MAX_PASSWORD), where="password")
    return value


def _address(email: str) -> str:
    try:
        return normalise_email(email)
    except InvalidAddress as e:
        raise AccountError(i18n.Message("account.email.invalid", email=email.strip(), reason=e.what),
                           where="email") from None


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise AccountError(i18n.Message("account.role.invalid", role=role), where="role") from None


# --- the accounts ----------------------------------------------------------------------------------------


def add_user(uow: UnitOfWork, email: str, role: str, password: str, *, actor: Actor, now: dt.datetime) -> Account:
    address = _address(email)
    chosen = _role(role)
    value = check_password(password)
    if rows.find_user(uow.session, address) is not None:
        raise AccountError(i18n.Message("account.exists", email=address), where="email")
    user = rows.add_user(uow.session, address, chosen, _hasher.hash(value), now)
    record(uow, actor, Action.USER_ADD, object_type="user", object_id=user.email, detail=str(chosen), now=now)
    return _account(user)


def list_users(uow: UnitOfWork) -> list[Account]:
    return [_account(u) for u in rows.users(uow.session)]


def get_user(uow: UnitOfWork, user_id: int) -> Account:
    user = rows.get_user(uow.session, user_id)
    if user is None:
        raise NotFoundError(f"no account {user_id}", where="user")
    return _account(user)


def _find(uow: UnitOfWork, who: int | str):
    user = rows.get_user(uow.session, who) if isinstance(who, int) else rows.find_user(uow.session, who)
    if user is None:
        raise AccountError(i18n.Message("account.unknown", email=str(who)), where="email")
    return user


def _keep_an_admin(uow: UnitOfWork, user) -> None:
    if user.role == Role.ADMIN and user.status == AccountStatus.ACTIVE and rows.active_admins(uow.session) <= 1:
        raise AccountError(i18n.Message("account.last_admin", email=user.email), where="email")


def disable_user(uow: UnitOfWork, who: int | str, *, actor: Actor, now: dt.datetime) -> Account:
    """Disable the account and end its sessions at once. The last active admin cannot be disabled from the
    workspace or the command line (`bulletin users add` another first)."""
    user = _find(uow, who)
    if user.status == AccountStatus.DISABLED:
        raise AccountError(i18n.Message("account.already_disabled", email=user.email), where="email")
    _keep_an_admin(uow, user)
    user.status = AccountStatus.DISABLED
    ended = rows.end_sessions_of(uow.session, user.id)
    record(uow, actor, Action.USER_DISABLE, object_type="user", object_id=user.email,
           detail=f"sessions ended: {ended}", now=now)
    return _account(user)


def set_role(uow: UnitOfWork, who: int | str, role: str, *, actor: Actor, now: dt.datetime) -> Account:
    user = _find(uow, who)
    chosen = _role(role)
    if user.role == chosen:
        return _account(user)
    if chosen != Role.ADMIN:
        _keep_an_admin(uow, user)
    was = user.role
    user.role = chosen
    record(uow, actor, Action.USER_ROLE, object_type="user", object_id=user.email, detail=f"{was} -> {chosen}",
           now=now)
    return _account(user)


# --- signing in and out ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A live session: its account, the CSRF token its forms carry, and the cookie token (only at sign-in)."""

    account: Account
    csrf_token: str
    token: str = ""


@dataclass(frozen=True)
class Refused:
    """A sign-in that did not happen: `wait` is set when the throttle refused it before the password was read."""

    wait: dt.timedelta | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def throttled_for(uow: UnitOfWork, email_key: str, ip: str, *, now: dt.datetime,
                  throttle: Throttle = THROTTLE) -> dt.timedelta | None:
    """How long this address or IP address must still wait before its next try, or None."""
    since = now - throttle.window
    success = rows.last_action(uow.session, str(Action.SIGN_IN), email_key)
    by_address, last_address = rows.count_actions(
        uow.session, str(Action.SIGN_IN_FAILED), since=max(since, success) if success else since, actor=email_key)
    by_ip, last_ip = rows.count_actions(uow.session, str(Action.SIGN_IN_FAILED), since=since, ip=ip)
    waits = []
    if last_address is not None:
        waits.append(last_address + throttle.delay(by_address, throttle.free_per_address) - now)
    if last_ip is not None:
        waits.append(last_ip + throttle.delay(by_ip, throttle.free_per_ip) - now)
    wait = max(waits, default=dt.timedelta(0))
    return wait if wait > dt.timedelta(0) else None


def sign_in(uow: UnitOfWork, email: str, password: str, *, ip: str, now: dt.datetime,
            throttle: Throttle = THROTTLE) -> SignedIn | Refused:
    """Check the address and password and open a new session (a new token whatever the browser had before:
    no session fixation). Unknown address, wrong password and disabled account get the same answer."""
    key = rows.email_key(email)[:320]
    wait = throttled_for(uow, key, ip, now=now, throttle=throttle)
    if wait is not None:
        return Refused(wait)
    user = rows.find_user(uow.session, key) if key else None
    ok = _verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    if not ok or user.status != AccountStatus.ACTIVE:
        why = "unknown address" if user is None else "wrong password" if not ok else "account disabled"
        record(uow, Actor(user.id if user else None, key, ip), Action.SIGN_IN_FAILED, object_type="user",
               object_id=key, detail=why, now=now)
        return Refused()
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(_normalised(password))
    user.last_sign_in_at = now
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    rows.add_session(uow.session, token_hash(token), user.id, csrf, ip, now)
    record(uow, Actor(user.id, user.email_key, ip), Action.SIGN_IN, object_type="user", object_id=user.email,
           now=now)
    return SignedIn(_account(user), csrf, token)


def _verify(hashed: str, password: str) -> bool:
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(hashed, _normalised(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def current_session(uow: UnitOfWork, token: str, *, now: dt.datetime, policy: SessionPolicy,
                    touch: bool = True) -> SignedIn | None:
    """The live session of this cookie token, or None (unknown, idle too long, too old, account disabled: an
    ended session's row is deleted). `touch`: this request is the person's, so the idle timer starts again."""
    if not token or len(token) > 200:
        return None
    hashed = token_hash(token)
    found = rows.session_with_user(uow.session, hashed)
    if found is None:
        return None
    row, user = found
    if (user.status != AccountStatus.ACTIVE or now - row.last_seen_at > policy.idle
            or now - row.created_at > policy.max_age):
        rows.end_session(uow.session, hashed)
        return None
    if touch and now - row.last_seen_at >= policy.touch_every:
        rows.touch_session(uow.session, hashed, now)
    return SignedIn(_account(user), row.csrf_token)


def sign_out(uow: UnitOfWork, token: str, *, ip: str, now: dt.datetime) -> None:
    hashed = token_hash(token)
    found = rows.session_with_user(uow.session, hashed)
    if found is None:
        return
    _row, user = found
    rows.end_session(uow.session, hashed)
    record(uow, Actor(user.id, user.email_key, ip), Action.SIGN_OUT, object_type="user", object_id=user.email,
           now=now)


def forget_session(uow: UnitOfWork, token: str) -> None:
    """End a session without an audit entry: the one a browser held when it signed in again."""
    rows.end_session(uow.session, token_hash(token))


def end_stale_sessions(uow: UnitOfWork, *, now: dt.datetime, policy: SessionPolicy) -> int:
    """Delete the rows of sessions that timed out (they let nobody in already; this keeps the table small)."""
    return rows.end_stale_sessions(uow.session, now - policy.idle, now - policy.max_age)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected.encode(), (given or "").encode("utf-8", "replace"))
