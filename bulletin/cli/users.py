"""`bulletin users add/list/disable`: the accounts of the web workspace, for whoever holds the server's shell."""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import os
import sys

from bulletin.config import Config
from bulletin.errors import BulletinError
from bulletin.i18n import default_catalogue
from bulletin.states import Role


def register(sub: argparse._SubParsersAction) -> None:
    users = sub.add_parser("users", help="the accounts of the web workspace (/admin/)")
    users_sub = users.add_subparsers(dest="users_command", metavar="COMMAND")
    users_sub.required = True
    add = users_sub.add_parser("add", help="create an account; the password is asked for (or --password-env)")
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--role", required=True, choices=[str(r) for r in Role],
                     help="editor: issues only; admin: everything, including lists, sends and accounts")
    add.add_argument("--password-env", metavar="NAME",
                     help="read the password from this environment variable instead of asking")
    add.set_defaults(handler=add_user)
    show = users_sub.add_parser("list", help="the accounts with their role, status and last sign-in")
    show.set_defaults(handler=list_users)
    off = users_sub.add_parser("disable", help="disable an account and end its sessions at once")
    off.add_argument("email", metavar="EMAIL")
    off.set_defaults(handler=disable_user)


def _store(cfg: Config):
    from bulletin.services.store import Store

    return Store.open(cfg)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _password(args: argparse.Namespace) -> str:
    t = default_catalogue()
    if args.password_env:
        value = os.environ.get(args.password_env)
        if not value:
            raise BulletinError(t("cli.users.env_unset", name=args.password_env), where="--password-env")
        return value
    if not sys.stdin.isatty():
        raise BulletinError(t("cli.users.no_terminal"), where="--password-env")
    first = getpass.getpass(t("cli.users.prompt"))
    if getpass.getpass(t("cli.users.prompt_again")) != first:
        raise BulletinError(t("cli.users.mismatch"), where="password")
    return first


def add_user(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services import accounts
    from bulletin.services.audit import Actor

    password = _password(args)
    accounts.check_password(password)  # before the database is opened: a short password changes nothing
    account = _store(cfg).run(accounts.add_user, args.email, args.role, password, actor=Actor.cli(), now=_now())
    print(default_catalogue()("cli.users.added", email=account.email, role=account.role))
    return 0


def list_users(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services import accounts

    t = default_catalogue()
    with _store(cfg).unit_of_work() as uow:
        rows = accounts.list_users(uow)
    if not rows:
        print(t("cli.users.none"), file=sys.stderr)
    for a in rows:
        last = f"{a.last_sign_in_at:%Y-%m-%d %H:%M} UTC" if a.last_sign_in_at else t("cli.users.never")
        print(t("cli.users.row", email=a.email, role=a.role, status=t(f"status.account.{a.status}"), last=last))
    return 0


def disable_user(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services import accounts
    from bulletin.services.audit import Actor

    with _store(cfg).unit_of_work() as uow:
        account = accounts.disable_user(uow, args.email, actor=Actor.cli(), now=_now())
    print(default_catalogue()("cli.users.disabled", email=account.email))
    return 0
