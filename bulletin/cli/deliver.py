"""`bulletin send`, `approve`, `worker`, `cancel` and `status`: thin wrappers over the services."""

from __future__ import annotations

import argparse
import json
import sys
import threading

from bulletin.config import Config
from bulletin.errors import BulletinError
from bulletin.i18n import default_catalogue

# The services (and the store and delivery engine behind them) are imported by the handlers that use them:
# every `bulletin` command registers this module at start-up, and SQLAlchemy with Alembic alone cost half a second.


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
    p.add_argument("--to", metavar="EMAIL", action="append",
                   help="a test send of every edition to this address (subject marked [TEST]); repeat it or "
                   "separate addresses with commas")
    p.add_argument("--again", action="store_true",
                   help="send an issue to a list that already received it (refused otherwise)")
    p.set_defaults(handler=send_command)

    a = subparsers.add_parser(
        "approve",
        help="record that this version of an issue may be sent (the monthly schedule sends approved issues)",
        description="Check the issue (errors refuse it) and record its fingerprint, one hash over every file the "
        "build reads, with your name and the time. A scheduled or monthly send goes only if the folder still "
        "has the fingerprint it was approved (or scheduled) with: approve again after an edit.",
    )
    a.add_argument("issue_dir", metavar="ISSUE_DIR", help="the issue folder, e.g. issues/2026-12")
    a.set_defaults(handler=approve_command)

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
            self.counts[str(status)] = self.counts.get(str(status), 0) + 1
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
            print(default_catalogue()("cli.send.retry_wait", deferred=left.deferred, at=f"{at:%H:%M:%S}"),
                  file=sys.stderr)


def _store(cfg: Config):
    from bulletin.services.store import Store

    return Store.open(cfg)


def _problems(problems) -> None:
    """One line per problem of `check`, in the terminal's language (`bulletin check` shows the hints)."""
    from bulletin.cli.compose import problem_line

    for problem in problems:
        print(problem_line(problem), file=sys.stderr)


def _checked(action):
    """Run `action()`; when the issue has errors, print every problem, then let the error say nothing was done."""
    from bulletin.services.issues import IssueNotReady

    try:
        return action()
    except IssueNotReady as e:
        _problems(e.report.problems)
        raise


def send_command(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services import sends

    t = default_catalogue()
    if args.to:
        if args.at or args.again:
            raise BulletinError("--to is a test send now: it takes neither --at nor --again", where="--to")
        test = _checked(lambda: sends.test_send(cfg, args.issue_dir, args.to, store=_store(cfg),
                                                list_slug=args.list_slug))
        _problems(test.warnings)
        for slug, language, email in test.sent:
            print(t("cli.send.test_sent", slug=slug, language=language, email=email))
        return 0
    if not args.list_slug:
        raise BulletinError("which list? add --list SLUG (or --to EMAIL for a test send)", where="send")
    if args.at:
        at = sends.parse_at(args.at, cfg)
        created = _checked(lambda: sends.schedule(_store(cfg), cfg, args.issue_dir, args.list_slug, at,
                                                  again=args.again))
        _problems(created.warnings)
        print(t("cli.send.scheduled", id=created.id, slug=created.slug, list=args.list_slug,
                **_local(cfg, at)))
        return 0
    store = _store(cfg)
    created = _checked(lambda: sends.send_now(store, cfg, args.issue_dir, args.list_slug, again=args.again))
    _problems(created.warnings)
    progress = _Progress(created.total, f"send {created.id}")
    try:
        left = sends.deliver(store, cfg, created.id, progress=progress,
                             on_wait=_RetryNotice(cfg.organisation.timezone))
    except KeyboardInterrupt:
        progress.close()
        print(f"error: {t('cli.send.interrupted', id=created.id)}", file=sys.stderr)
        return 130
    finally:
        progress.close()
    return _print_status(store, cfg, [created.id], as_json=False, left=left)


def _local(cfg: Config, at) -> dict[str, str]:
    from zoneinfo import ZoneInfo

    zone = cfg.organisation.timezone
    return {"at": f"{at.astimezone(ZoneInfo(zone)):%Y-%m-%d %H:%M}", "zone": zone}


def approve_command(args: argparse.Namespace, cfg: Config) -> int:
    import getpass

    from bulletin.services import issues

    t = default_catalogue()
    approved = _checked(lambda: issues.approve(_store(cfg), cfg, args.issue_dir, by=getpass.getuser(),
                                               source="cli"))
    _problems(approved.warnings)
    print(t("cli.approve.done", path=args.issue_dir, short=approved.fingerprint.short,
            files=len(approved.fingerprint.files), by=approved.by, **_local(cfg, approved.at)))
    for name in approved.fingerprint.files:
        print(f"  {name}")
    for send_id in approved.released:
        print(t("cli.approve.released", id=send_id))
    return 0


def worker_command(args: argparse.Namespace, cfg: Config) -> int:
    import signal

    from bulletin.services import sends

    store = _store(cfg)
    stop = threading.Event()

    def _stop(signum, frame):  # finish the messages in hand, mark them, give the rest back
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    done: list[int] = []
    try:
        sends.work(store, cfg, drain=args.drain, stop=stop, on_send_done=lambda send_id, left: done.append(send_id))
    except KeyboardInterrupt:
        stop.set()
    if done:
        return _print_status(store, cfg, sorted(set(done)), as_json=False)
    print(default_catalogue()("cli.worker.nothing"))
    return 0


def cancel_command(args: argparse.Namespace, cfg: Config) -> int:
    from bulletin.services import sends

    store = _store(cfg)
    was = sends.cancel(store, cfg, args.send_id)
    print(default_catalogue()("cli.cancel.done", id=args.send_id, was=was))
    return _print_status(store, cfg, [args.send_id], as_json=False)


def status_command(args: argparse.Namespace, cfg: Config) -> int:
    ids = [args.send_id] if args.send_id is not None else None
    store = _store(cfg)
    if args.send_id is None and not args.json:
        _print_monthly(store, cfg)
    return _print_status(store, cfg, ids, as_json=args.json, one=args.send_id is not None)


def _print_monthly(store, cfg: Config) -> None:
    """The next monthly send, whether its issue is approved, and what the schedule did this month."""
    from bulletin.services import monthly

    state = monthly.status(store, cfg, _utcnow())
    if state is None:
        return
    t = default_catalogue()
    m = state.next
    print(t("cli.status.monthly", folder=str(m.folder), list=m.list_slug, **_local(cfg, m.send_at)))
    print(f"  {monthly.describe(cfg, state.approval)}")
    for line in state.log:
        print(t(f"cli.status.monthly_{line.step}", month=line.month, send_id=line.send_id,
                detail=monthly.why(line.detail), **_local(cfg, line.at)))


def _utcnow():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


def _print_status(store, cfg, ids: list[int] | None, *, as_json: bool, left=None, one: bool = True) -> int:
    """Print the figures; `--json` gives one object for `status SEND_ID`, a list for `status`."""
    from bulletin.services.reports import send_reports

    with store.unit_of_work() as uow:
        reports = send_reports(uow, ids)
    if as_json:
        json.dump(reports[0] if one else reports, sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    t = default_catalogue()
    if not reports:
        print(t("cli.status.none"))
    for r in reports:
        print(t("cli.status.row", **{k: r[k] for k in ("id", "issue", "list", "state", "total", "sent", "failed",
                                                      "deferred", "pending", "skipped", "bounced", "unsubscribed")}))
        if r["waiting"]:
            import datetime as dt

            from bulletin.services.sends import waiting_reason

            since = dt.datetime.fromisoformat(r["waiting_since"])
            print(t("cli.status.waiting", reason=waiting_reason(cfg, r["waiting"], r["issue_dir"]), id=r["id"],
                    **_local(cfg, since)))
        for reason in r["failure_reasons"]:
            print(t("cli.status.failed_reason", count=reason["count"], reason=reason["reason"]))
        if r["bounced"] or r["complaints"]:
            print(t("cli.status.bounces", hard=r["bounced_hard"], soft=r["bounced_soft"], complaints=r["complaints"]))
        for reason in r["bounce_reasons"]:
            print(t("cli.status.bounce_reason", count=reason["count"], reason=reason["reason"]))
    if left is not None and left.deferred:
        print(t("cli.status.deferred_left", deferred=left.deferred))
    return 0
