"""`bulletin lists` and `bulletin subscribers ...`: lists, CSV import and export, one subscriber at a time."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bulletin.config import Config
from bulletin.errors import BulletinError

if TYPE_CHECKING:
    from bulletin.store.importer import ImportReport

# The store (SQLAlchemy, Alembic, email-validator, charset-normalizer) is imported by the handlers that use it,
# so that `bulletin --help` and the other areas' commands do not pay for it.

#: Files at least this large show a progress bar even when stderr is not a terminal (a log of a long import).
PROGRESS_BYTES = 5 << 20
STATUS_ORDER = ("subscribed", "unconfirmed", "unsubscribed", "bounced")


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


def _engine(cfg: Config):
    from bulletin.store import db

    return db.engine_for(cfg.database_url)


def show_lists(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db, queries

    with db.session_scope(_engine(cfg)) as session:
        rows = queries.list_counts(session)
    if not rows:
        print("no lists yet: bulletin lists add SLUG --name NAME", file=sys.stderr)
    for ml, counts in rows:
        shown = [status for status in STATUS_ORDER if counts.get(status) or status == "subscribed"]
        parts = [f"{counts.get(status, 0)} {status}" for status in shown]
        print(f"{ml.slug} — {ml.name}: {', '.join(parts)}")
    return 0


def add_list(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db, queries

    name = args.name.strip()
    if not name:
        raise BulletinError("a list needs a name", where="--name")
    with db.session_scope(_engine(cfg)) as session:
        ml = queries.create_list(session, args.slug, name)
    print(f"created list {ml.slug} ({ml.name})")
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

    bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"importing {path.name}", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.update(max(0, min(done, total) - bar.n))

    return update, bar


def print_report(report: ImportReport) -> None:
    head = "dry run, nothing written: " if report.dry_run else ""
    print(f"{head}{report.path} -> {report.list_slug}: {report.rows} rows ({report.encoding}, "
          f"delimiter {report.delimiter!r})")
    print(f"  added {report.added}, updated {report.updated}, unchanged {report.unchanged}, "
          f"duplicates merged {len(report.duplicates)}, not re-subscribed {len(report.not_resubscribed)}, "
          f"rejected {len(report.rejected)}")
    for title, notes in (("rejected", report.rejected), ("not re-subscribed", report.not_resubscribed),
                         ("duplicates", report.duplicates), ("warnings", report.warnings)):
        if notes:
            print(f"{title}:")
            for n in notes:
                print(f"  line {n.line}: {n.email!r}: {n.reason}")


def import_file(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db, queries
    from bulletin.store.importer import import_subscribers

    path = Path(args.file)
    update, bar = _progress(path)
    try:
        with db.session_scope(_engine(cfg)) as session:
            ml = queries.get_list(session, args.list_slug)
            report = import_subscribers(
                session, path, ml, languages=cfg.organisation.languages,
                default_language=cfg.organisation.language, progress=update,
            )
            if args.dry_run:
                report.dry_run = True
                session.rollback()
    finally:
        if bar is not None:
            bar.close()
    print_report(report)
    return 0


def export_file(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db, queries
    from bulletin.store.exporter import csv_format, export_subscribers, export_to_file

    delimiter = "\t" if args.delimiter in ("tab", "\\t") else args.delimiter
    options = {"fmt": csv_format(cfg.organisation.language, delimiter), "raw": args.raw}
    with db.session_scope(_engine(cfg)) as session:
        ml = queries.get_list(session, args.list_slug)
        if args.out:
            n = export_to_file(session, ml, args.out, **options)
            print(f"{n} subscribers of {ml.slug} written to {args.out}", file=sys.stderr)
        else:
            sys.stdout.flush()
            export_subscribers(session, ml, sys.stdout.buffer, **options)
            sys.stdout.buffer.flush()
    return 0


def add_one(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db, queries
    from bulletin.store.subscribers import add_subscriber

    with db.session_scope(_engine(cfg)) as session:
        ml = queries.get_list(session, args.list_slug)
        result = add_subscriber(
            session, ml, args.email, name=args.name, language=args.language,
            languages=cfg.organisation.languages, default_language=cfg.organisation.language,
        )
    messages = {"added": "subscribed to", "confirmed": "confirmed on", "updated": "updated on",
                "already": "already subscribed to"}
    print(f"{result.subscriber.email} {messages[result.outcome]} {ml.slug}")
    return 0


def unsubscribe_one(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store import db
    from bulletin.store.subscribers import unsubscribe_address

    with db.session_scope(_engine(cfg)) as session:
        done = unsubscribe_address(session, args.email, args.list_slug)
    if done:
        print(f"{args.email} unsubscribed from {', '.join(done)}")
    else:
        print(f"{args.email} was already unsubscribed")
    return 0
