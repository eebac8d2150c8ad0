"""`bulletin send`, `bulletin worker` and `bulletin status`: thin wrappers over bulletin.deliver."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from bulletin.config import Config
from bulletin.errors import BulletinError, ContentError

# The store and the delivery engine are imported by the handlers that use them: every `bulletin` command
# registers this module at start-up, and SQLAlchemy with Alembic alone cost half a second.


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "send",
        help="send an issue to a list now, at a given time, or as a test to one address",
        description="Without --at: send now, in the foreground, with a progress bar (Ctrl-C is safe: "
        "`bulletin worker` resumes where it stopped). With --at: schedule it; `bulletin worker` sends it.",
    )
    p.add_argument("issue_dir", metavar="ISSUE_DIR", help="the issue folder, e.g. issues/2023-07")
    p.add_argument("--list", dest="list_slug", metavar="SLUG", help="the list to send to")
    p.add_argument("--at", metavar="ISO-DATETIME",
                   help="schedule for this time; without an offset, in [organisation].timezone")
    p.add_argument("--to", metavar="EMAIL", help="a test send of every edition to one address (subject marked [TEST])")
    p.add_argument("--again", action="store_true",
                   help="send an issue to a list that already received it (refused otherwise)")
    p.set_defaults(handler=send_command)

    w = subparsers.add_parser(
        "worker",
        help="fire scheduled sends and deliver unfinished ones",
        description="Run the scheduler and deliver due and unfinished sends until stopped. Several workers, on "
        "several machines sharing a PostgreSQL database, share the work without sending anyone twice.",
    )
    w.add_argument("--drain", action="store_true",
                   help="deliver what is due or unfinished (waiting for retries of temporary failures), then exit")
    w.set_defaults(handler=worker_command)

    c = subparsers.add_parser("cancel", help="stop a scheduled or running send (what is on the wire finishes)")
    c.add_argument("send_id", type=int, metavar="SEND_ID", help="the send, as `bulletin status` lists it")
    c.set_defaults(handler=cancel_command)

    s = subparsers.add_parser("status", help="the sends with their figures: sent, failed, bounced, unsubscribed")
    s.add_argument("send_id", nargs="?", type=int, metavar="SEND_ID", help="one send (default: all)")
    s.add_argument("--json", action="store_true", help="print the figures as JSON")
    s.set_defaults(handler=status_command)


def _render(issue_dir: str, cfg: Config):
    from bulletin.render.pipeline import render_issue

    path = Path(issue_dir)
    if not path.is_dir():
        raise ContentError("no such issue folder", where=issue_dir)
    return render_issue(path, cfg)


class _Progress:
    """A tqdm bar with rate and ETA on a terminal; nothing otherwise (logs stay readable)."""

    def __init__(self, total: int, label: str):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="msg", desc=label, file=sys.stderr, disable=not sys.stderr.isatty(),
                        dynamic_ncols=True)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def __call__(self, status: str) -> None:
        with self._lock:
            self.counts[status] = self.counts.get(status, 0) + 1
            self.bar.update(1)
            self.bar.set_postfix(self.counts, refresh=False)

    def close(self) -> None:
        self.bar.close()


class _RetryNotice:
    """Says once per retry time that the send waits, and that stopping it is safe."""

    def __init__(self, timezone: str):
        from zoneinfo import ZoneInfo

        self.zone = ZoneInfo(timezone)
        self.last = None

    def __call__(self, left) -> None:
        at = left.next_retry_at.astimezone(self.zone).replace(microsecond=0)
        if at != self.last:
            self.last = at
            print(f"{left.deferred} deferred after temporary failures; next retry at {at:%H:%M:%S}. "
                  "Ctrl-C leaves them to `bulletin worker`.", file=sys.stderr)


def send_command(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store.db import engine_for, session_scope
    from bulletin.deliver import schedule, sends
    from bulletin.deliver.engine import deliver_send

    if args.to:
        if args.at or args.again:
            raise BulletinError("--to is a test send now: it takes neither --at nor --again", where="--to")
        from bulletin.deliver.testsend import send_test

        editions = _render(args.issue_dir, cfg)
        engine = engine_for(cfg.database_url) if args.list_slug else None
        for line in send_test(cfg, editions, args.to, engine=engine, list_slug=args.list_slug):
            print(line)
        return 0
    if not args.list_slug:
        raise BulletinError("which list? add --list SLUG (or --to EMAIL for a test send)", where="send")
    at = schedule.parse_at(args.at, cfg.organisation.timezone) if args.at else None
    editions = _render(args.issue_dir, cfg)
    engine = engine_for(cfg.database_url)
    with session_scope(engine) as session:
        send = sends.create_send(session, issue_dir=Path(args.issue_dir).resolve(), list_slug=args.list_slug,
                                 editions=editions, scheduled_at=at, again=args.again)
        send_id = send.id
        if at is None:
            sends.start_send(session, send_id)
    if at is not None:
        schedule.schedule_send(engine, cfg, send_id, at)
        local = at.astimezone(schedule.ZoneInfo(cfg.organisation.timezone))
        print(f"send {send_id}: {editions[0].slug} to {args.list_slug} scheduled for "
              f"{local:%Y-%m-%d %H:%M} ({cfg.organisation.timezone}); `bulletin worker` sends it")
        return 0
    with session_scope(engine) as session:
        total = sends.get_send(session, send_id).total
    progress = _Progress(total, f"send {send_id}")
    try:
        left = deliver_send(engine, cfg, send_id, wait_for_retries=True, progress=progress,
                            on_wait=_RetryNotice(cfg.organisation.timezone))
    except KeyboardInterrupt:
        progress.close()
        print(f"error: interrupted: send {send_id} stopped safely; `bulletin worker` resumes it", file=sys.stderr)
        return 130
    finally:
        progress.close()
    return _print_status(engine, [send_id], as_json=False, left=left)


def worker_command(args: argparse.Namespace, cfg: Config) -> int:
    import signal

    from bulletin.deliver.worker import run_worker
    from bulletin.store.db import engine_for

    engine = engine_for(cfg.database_url)
    stop = threading.Event()

    def _stop(signum, frame):  # finish the messages in hand, mark them, give the rest back
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    done: list[int] = []
    try:
        run_worker(engine, cfg, drain=args.drain, stop=stop, on_send_done=lambda send_id, left: done.append(send_id))
    except KeyboardInterrupt:
        stop.set()
    if done:
        return _print_status(engine, sorted(set(done)), as_json=False)
    print("nothing to send")
    return 0


def cancel_command(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store.db import engine_for, session_scope
    from bulletin.deliver import schedule, sends

    engine = engine_for(cfg.database_url)
    with session_scope(engine) as session:
        was = sends.cancel_send(session, args.send_id)
    if was == "scheduled":
        schedule.unschedule_send(engine, cfg, args.send_id)
    print(f"send {args.send_id} cancelled (it was {was})")
    return _print_status(engine, [args.send_id], as_json=False)


def status_command(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.store.db import engine_for, session_scope
    from bulletin.deliver.report import all_send_ids

    engine = engine_for(cfg.database_url)
    if args.send_id is not None:
        ids = [args.send_id]
    else:
        with session_scope(engine) as session:
            ids = all_send_ids(session)
    return _print_status(engine, ids, as_json=args.json, one=args.send_id is not None)


def _waiting_line(waiting: dict) -> str:
    import datetime as dt

    from bulletin import i18n

    def local(iso: str) -> str:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M:%S")

    return str(i18n.Message("status.waiting", server=waiting["server"], since=local(waiting["since"]),
                            next_try=local(waiting["next_try_at"]), error=waiting["error"]))


def _print_status(engine, ids: list[int], *, as_json: bool, left=None, one: bool = True) -> int:
    """Print the figures; `--json` gives one object for `status SEND_ID`, a list for `status`."""
    from bulletin.store.db import session_scope
    from bulletin.deliver.report import send_report

    with session_scope(engine) as session:
        reports = [send_report(session, i) for i in ids]
    if as_json:
        json.dump(reports[0] if one else reports, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    if not reports:
        print("no sends yet")
    for r in reports:
        print(
            f"send {r['id']}: {r['issue']} to {r['list']} [{r['state']}] total {r['total']}, sent {r['sent']}, "
            f"failed {r['failed']}, deferred {r['deferred']}, pending {r['pending']}, skipped {r['skipped']}, "
            f"bounced {r['bounced']}, unsubscribed {r['unsubscribed']}"
        )
        if r["waiting"]:
            print("  " + _waiting_line(r["waiting"]))
        for reason in r["failure_reasons"]:
            print(f"  {reason['count']} failed: {reason['reason']}")
        if r["bounced"] or r["complaints"]:
            print(f"  bounced: {r['bounced_hard']} hard, {r['bounced_soft']} soft; complaints: {r['complaints']}")
        for reason in r["bounce_reasons"]:
            print(f"  {reason['count']} bounced: {reason['reason']}")
    if left is not None and left.deferred:
        print(f"{left.deferred} deferred: `bulletin worker` retries them")
    return 0
