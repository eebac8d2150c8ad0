"""`bulletin lists` and `bulletin subscribers ...`: lists, CSV import and export, one subscriber at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bulletin.config import Config
from bulletin.i18n import default_catalogue
from bulletin.states import SubscriptionStatus

if TYPE_CHECKING:
    from bulletin.services.imports import ImportReport

# The services (and with them SQLAlchemy, Alembic, email-validator, charset-normalizer) are imported by the
# handlers that use them, so that `bulletin --help` and the other areas' commands do not pay for them.

#: Files at least this large show a progress bar even when stderr is not a terminal (a log of a long import).
PROGRESS_BYTES = 5 << 20
STATUS_ORDER = tuple(SubscriptionStatus)


def register(sub: argparse._SubParsersAction) -> None:
    lists = sub.add_parser("lists", help="the lists with their counts; `lists add` creates one")
    lists.set_defaults(handler=show_lists)
    lists_sub = lists.add_subparsers(dest="lists_command", metavar="COMMAND")
    add = lists_sub.add_parser("add", help="create a list")
    add.add_argument("slug", metavar="SLUG", help="short name used in commands, e.g. imrap")
    add.add_argument("--name", required=True, help="the list's name as subscribers see it")
    add.set_defaults(handler=add_list)

    subs = sub.add_parser("subscribers", help="import, export, add or unsubscribe subscribers")
    subs_sub = subs.add_subparsers(dest="subscribers_command", metavar="COMMAND")
    subs_sub.required = True
    imp = subs_sub.add_parser("import", help="import a CSV file (Excel exports welcome) into a list")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--list", required=True, dest="list_slug", metavar="SLUG")
    imp.add_argument("--dry-run", action="store_true", help="show the report, write nothing")
    imp.set_defaults(handler=import_file)
    exp = subs_sub.add_parser("export", help="write a list as CSV (UTF-8), which import reads back")
    exp.add_argument("--list", required=True, dest="list_slug", metavar="SLUG")
    exp.add_argument("--out", metavar="FILE", help="default: standard output")
    exp.add_argument("--delimiter", metavar="CHAR",
                     help="',', ';', 'tab' or '|' (default: what the organisation's language's spreadsheets use, "
                          "';' for French, ',' for English)")
    exp.add_argument("--raw", action="store_true",
                     help="write values as they are, formulas included (default: a cell starting with =, +, -, @ "
                          "gets a leading apostrophe so that spreadsheets do not run it)")
    exp.set_defaults(handler=export_file)
    one = subs_sub.add_parser("add", help="subscribe one address to a list")
    one.add_argument("email", metavar="EMAIL")
    one.add_argument("--list", required=True, dest="list_slug", metavar="SLUG")
    one.add_argument("--name")
    one.add_argument("--language")
    one.set_defaults(handler=add_one)
    unsub = subs_sub.add_parser("unsubscribe", help="unsubscribe an address from a list, or from every list")
    unsub.add_argument("email", metavar="EMAIL")
    unsub.add_argument("--list", dest="list_slug", metavar="SLUG")
    unsub.set_defaults(handler=unsubscribe_one)
    invite = subs_sub.add_parser(
        "invite", help="mail someone who left a link to come back to a list (only they can confirm it)")
    invite.add_argument("email", metavar="EMAIL")
    invite.add_argument("--list", required=True, dest="list_slug", metavar="SLUG")
    invite.add_argument("--language")
    invite.set_defaults(handler=invite_one)


def _store(cfg: Config):
    from bulletin.services.store import Store

    return Store.open(cfg)


def show_lists(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.lists import list_summaries

    t = default_catalogue()
    with _store(cfg).unit_of_work() as uow:
        rows = list_summaries(uow)
    if not rows:
        print(t("cli.lists.none"), file=sys.stderr)
    for row in rows:
        shown = [status for status in STATUS_ORDER if row.counts.get(status) or status == SubscriptionStatus.SUBSCRIBED]
        counts = ", ".join(f"{row.counts.get(status, 0)} {t(f'status.subscription.{status}')}" for status in shown)
        print(t("cli.lists.row", slug=row.slug, name=row.name, counts=counts))
    return 0


def add_list(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.lists import create_list

    with _store(cfg).unit_of_work() as uow:
        created = create_list(uow, args.slug, args.name)
    print(default_catalogue()("cli.lists.created", slug=created.slug, name=created.name))
    return 0


def _progress(path: Path):
    """A tqdm bar on stderr for a terminal or a large file; None otherwise (pipes and small files stay quiet)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None, None
    if not (sys.stderr.isatty() or size >= PROGRESS_BYTES):
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=size, unit="B", unit_scale=True, desc=default_catalogue()("cli.import.progress", name=path.name),
               file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.update(max(0, min(done, total) - bar.n))

    return update, bar


def print_report(report: ImportReport) -> None:
    t = default_catalogue()
    print(t("cli.import.head", dry=t("cli.import.dry_run") if report.dry_run else "", path=report.path,
            list=report.list_slug, rows=report.rows, encoding=report.encoding, delimiter=repr(report.delimiter)))
    print(t("cli.import.counts", added=report.added, updated=report.updated, unchanged=report.unchanged,
            duplicates=len(report.duplicates), not_resubscribed=len(report.not_resubscribed),
            rejected=len(report.rejected)))
    for section, notes in (("rejected", report.rejected), ("not_resubscribed", report.not_resubscribed),
                           ("duplicates", report.duplicates), ("warnings", report.warnings)):
        if notes:
            print(t(f"cli.import.section.{section}"))
            for n in notes:
                print(t("cli.import.note", line=n.line, email=repr(n.email), reason=n.reason))


def import_file(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.imports import import_file as run_import

    path = Path(args.file)
    update, bar = _progress(path)
    try:
        with _store(cfg).unit_of_work() as uow:
            report = run_import(uow, cfg, path, args.list_slug, dry_run=args.dry_run, progress=update)
    finally:
        if bar is not None:
            bar.close()
    print_report(report)
    return 0


def export_file(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.imports import export_file as run_export
    from bulletin.services.imports import export_format, export_to_path

    delimiter = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    options = {"fmt": export_format(cfg, delimiter), "raw": args.raw}
    with _store(cfg).unit_of_work() as uow:
        if args.out:
            n = export_to_path(uow, args.list_slug, args.out, **options)
            print(default_catalogue()("cli.export.written", n=n, list=args.list_slug, path=args.out), file=sys.stderr)
        else:
            sys.stdout.flush()
            run_export(uow, args.list_slug, sys.stdout.buffer, **options)
            sys.stdout.buffer.flush()
    return 0


def add_one(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.subscriptions import add_by_admin

    result = _store(cfg).run(add_by_admin, cfg, args.list_slug, args.email, name=args.name, language=args.language)
    m = result.membership
    print(default_catalogue()(f"cli.subscriber.{result.outcome}", email=m.email, list=m.list_slug))
    return 0


def unsubscribe_one(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.subscriptions import unsubscribe_address

    with _store(cfg).unit_of_work() as uow:
        done = unsubscribe_address(uow, args.email, args.list_slug)
    t = default_catalogue()
    if done:
        print(t("cli.subscriber.unsubscribed", email=args.email, lists=", ".join(done)))
    else:
        print(t("cli.subscriber.already_unsubscribed", email=args.email))
    return 0


def invite_one(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services.invitations import Invitations
    from bulletin.services.subscriptions import invite_by_admin
    from bulletin.tokens import Tokens

    with _store(cfg).unit_of_work() as uow:
        invitation = invite_by_admin(uow, cfg, args.list_slug, args.email, language=args.language)
    Invitations(cfg, Tokens(cfg.signing_secret())).send_now(invitation)
    print(default_catalogue()("cli.subscriber.invited", email=invitation.email, list=args.list_slug))
    return 0
