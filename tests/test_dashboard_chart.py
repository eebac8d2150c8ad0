"""The dashboard's subscriber chart counts, through its indexes, exactly what a count of every row says: random
subscriptions (joined, left, come back, never confirmed) at random times around the chart's weeks, on SQLite and
PostgreSQL, against the definition computed row by row in Python."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from bulletin.states import SubscriptionStatus
from bulletin.store import db, queries
from bulletin.store.dashboard import subscribed_at
from bulletin.store.models import Subscriber, Subscription

STOPPED = (SubscriptionStatus.UNSUBSCRIBED, SubscriptionStatus.BOUNCED)


def _expected(rows, t: dt.datetime) -> int:
    """The definition: created by t, and still subscribed or stopped only after t."""
    return sum(1 for status, created, updated in rows
               if created <= t and (status == SubscriptionStatus.SUBSCRIBED or (status in STOPPED and updated > t)))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_chart_counts_what_the_rows_say(db_url, seed):
    rnd = random.Random(seed)
    engine = db.engine_for(db_url)
    now = dt.datetime(2026, 12, 2, 15, 30, tzinfo=dt.timezone.utc)
    times = [now - dt.timedelta(weeks=k) for k in range(11, 0, -1)]
    rows = []
    with db.session_scope(engine) as s:
        lists = [queries.create_list(s, f"l{i}", "L").id for i in range(2)]
        for i in range(400):
            p = Subscriber(email=f"p{i}@example.org", email_key=f"p{i}@example.org", name="", language="fr")
            s.add(p)
            s.flush()
            for list_id in lists[: rnd.randint(1, 2)]:
                # Around the chart's weeks, some exactly on a point, some in the future (another machine's clock).
                created = rnd.choice([now - dt.timedelta(days=rnd.uniform(0, 120)), rnd.choice(times),
                                      now + dt.timedelta(minutes=5)])
                status = rnd.choice(list(SubscriptionStatus))
                updated = created if status == SubscriptionStatus.SUBSCRIBED and rnd.random() < 0.5 else \
                    rnd.choice([created + dt.timedelta(days=rnd.uniform(0, 90)), rnd.choice(times), created])
                s.add(Subscription(subscriber_id=p.id, list_id=list_id, status=status, source="test",
                                   created_at=created, updated_at=updated))
                rows.append((status, created, updated))
    with db.session_scope(engine) as s:
        past, current = subscribed_at(s, times)
    assert past == [_expected(rows, t) for t in times]
    assert current == sum(1 for status, _, _ in rows if status == SubscriptionStatus.SUBSCRIBED)
    assert len(set(past)) > 3, "the sample moves between the weeks"


def test_an_empty_table_and_no_times(db_url):
    engine = db.engine_for(db_url)
    with db.session_scope(engine) as s:
        assert subscribed_at(s, []) == ([], 0)
        now = dt.datetime.now(dt.timezone.utc)
        assert subscribed_at(s, [now - dt.timedelta(weeks=1), now]) == ([0, 0], 0)
