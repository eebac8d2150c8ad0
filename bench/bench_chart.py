"""The dashboard's subscriber chart on 100,000 subscriptions: three ways to count the subscribed at 12 weekly
points, each timed (median of repeated runs) and its figures compared with the others'.

    .venv/bin/python bench/bench_chart.py [--subscriptions 100000] [--runs 21] [--pg URL]

- "one pass": the chart as it was, one pass over the table with a CASE per point per row;
- "changed rows": store/dashboard.subscribed_at, a count of the subscribed and the rows created or changed
  within the chart's weeks (read through their indexes), bucketed by a CASE in SQL;
- "daily table": a table of subscriptions joined and left per day, which the writers would keep (measured here
  with a trigger): reading it is cheap, writing it costs every subscription change; timed on an insert of
  `--subscriptions` rows with and without the trigger.

Two lists are measured: one that grew steadily over a year (a few thousand rows changed in 12 weeks), and one
whose people were all imported this month (every row changed in the chart's weeks: the worst case of
"changed rows"). The figures of "one pass" and "changed rows" must be equal; the daily table counts the same
rows by day, so it agrees at day boundaries (the points here are days apart at midnight).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import and_, case, func, insert, or_, select, text

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bulletin.states import SubscriptionStatus  # noqa: E402
from bulletin.store import db, queries  # noqa: E402
from bulletin.store.dashboard import subscribed_at  # noqa: E402
from bulletin.store.models import Subscriber, Subscription  # noqa: E402
from benchlib import reset_pg  # noqa: E402

WEEKS = 12


def one_pass(session, times):
    """The chart's query before: one pass, a CASE per time per row."""
    subscribed = Subscription.status == SubscriptionStatus.SUBSCRIBED
    stopped = Subscription.status.in_((SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED))
    columns = [func.coalesce(func.sum(case(
        (and_(Subscription.created_at <= t, or_(subscribed, and_(stopped, Subscription.updated_at > t))), 1),
        else_=0)), 0) for t in times]
    columns.append(func.coalesce(func.sum(case((subscribed, 1), else_=0)), 0))
    *past, now = (int(n) for n in session.execute(select(*columns)).one())
    return past, now


DAYS_TABLE = {
    "sqlite": [
        "CREATE TABLE bench_days (day DATE PRIMARY KEY, joined INTEGER NOT NULL, left_ INTEGER NOT NULL)",
        "CREATE TRIGGER bench_days_insert AFTER INSERT ON subscriptions WHEN new.status = 'subscribed' BEGIN "
        "INSERT INTO bench_days VALUES (date(new.created_at), 1, 0) "
        "ON CONFLICT (day) DO UPDATE SET joined = joined + 1; END",
    ],
    "postgresql": [
        "CREATE TABLE bench_days (day DATE PRIMARY KEY, joined INTEGER NOT NULL, left_ INTEGER NOT NULL)",
        "CREATE FUNCTION bench_days_count() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "INSERT INTO bench_days SELECT created_at::date, count(*), 0 FROM new_rows WHERE status = 'subscribed' "
        "GROUP BY 1 ON CONFLICT (day) DO UPDATE SET joined = bench_days.joined + excluded.joined; RETURN NULL; END $$",
        "CREATE TRIGGER bench_days_insert AFTER INSERT ON subscriptions REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION bench_days_count()",
    ],
}


def days_read(session, times):
    """The chart from a daily table: the days after each point subtracted from the running total."""
    rows = session.execute(text("SELECT day, joined - left_ FROM bench_days")).all()
    total = sum(n for _, n in rows)
    out = []
    for t in times:
        after = sum(n for day, n in rows if (day if isinstance(day, dt.date) else dt.date.fromisoformat(day)) >= t.date())
        out.append(total - after)
    return out, total


def populate(engine, n: int, spread_days: int, now: dt.datetime, seed: int = 7) -> None:
    rnd = random.Random(seed)
    with db.session_scope(engine) as s:
        ml = queries.create_list(s, f"l{spread_days}", "Bench")
        base = s.scalar(select(func.coalesce(func.max(Subscriber.id), 0)))
        for start in range(0, n, 20_000):
            s.execute(insert(Subscriber), [
                {"email": f"u{base + i}@example.org", "email_key": f"u{base + i}@example.org", "name": "",
                 "language": "fr", "status": "active", "attributes": {}, "created_at": now, "updated_at": now}
                for i in range(start, min(n, start + 20_000))])
        ids = [r[0] for r in s.execute(text("SELECT id FROM subscribers WHERE id > :b ORDER BY id"), {"b": base})]
        rows = []
        for i in ids:
            created = now - dt.timedelta(days=rnd.uniform(0, spread_days))
            stopped = rnd.random() < 0.05
            updated = created + dt.timedelta(days=rnd.uniform(0, (now - created).days or 1)) if stopped else created
            rows.append({"subscriber_id": i, "list_id": ml.id, "status": "unsubscribed" if stopped else "subscribed",
                         "source": "bench", "created_at": created, "updated_at": min(updated, now)})
        for start in range(0, len(rows), 20_000):
            s.execute(insert(Subscription), rows[start:start + 20_000])


def import_like(engine, now: dt.datetime) -> float:
    """Seconds to subscribe every person to a new list as an import writes them (store/bulk.py, 1000 a batch)."""
    from bulletin.store import bulk

    with db.session_scope(engine) as s:
        ml = queries.create_list(s, f"w{int(time.time() * 1000) % 10**8}", "Written")
        ids = [r[0] for r in s.execute(text("SELECT id FROM subscribers ORDER BY id"))]
        conn = s.connection()
        start = time.perf_counter()
        for i in range(0, len(ids), 1000):
            bulk.insert_subscriptions(conn, ml.id, [(p, "subscribed") for p in ids[i:i + 1000]], "bench", now)
        return time.perf_counter() - start


def timed(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def measure(engine, label: str, times, runs: int) -> None:
    if engine.dialect.name == "postgresql":
        # As autovacuum leaves a table at rest: statistics, and the visibility map that index-only scans need.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE subscriptions"))
    with db.session_scope(engine) as s:
        before, old = timed(lambda: one_pass(s, times), runs)
        after, new = timed(lambda: subscribed_at(s, times), runs)
    assert old == new, (old, new)
    print(f"  {label:<22} one pass {before * 1000:7.1f} ms   changed rows {after * 1000:6.1f} ms   "
          f"({before / after:.1f}x faster)   figures equal: {old == new}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscriptions", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--pg", help="a PostgreSQL URL (its public schema is dropped); default: a fresh SQLite file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bulletin-bench-chart-"))
    try:
        if args.pg:
            reset_pg(args.pg)
        url = args.pg or f"sqlite:///{work / 'bulletin.db'}"
        engine = db.engine_for(url)
        kind = engine.dialect.name
        now = dt.datetime.now(dt.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        times = [now - dt.timedelta(weeks=k) for k in range(WEEKS - 1, 0, -1)]
        n = args.subscriptions
        print(f"{kind}, {n} subscriptions a list, {os.cpu_count()} cores, median of {args.runs} runs")
        populate(engine, n, 365, now)
        measure(engine, "spread over a year", times, args.runs)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM subscriptions"))
        populate(engine, n, 25, now, seed=8)
        measure(engine, "all joined this month", times, args.runs)
        plain = import_like(engine, now)
        with engine.begin() as conn:
            for statement in DAYS_TABLE[kind]:
                conn.execute(text(statement))
        triggered = import_like(engine, now)
        with db.session_scope(engine) as s:
            daily, _figures = timed(lambda: days_read(s, times), args.runs)
        print(f"  daily table: read {daily * 1000:6.2f} ms; keeping it (a trigger) costs the writers: the "
              f"subscriptions of an import of {n} people written in {triggered:.2f} s with it, {plain:.2f} s "
              f"without (+{(triggered / plain - 1) * 100:.0f}%)")
    finally:
        db.dispose_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
