"""The delivery rows of sends, as the delivery engine asks for them (`bulletin.deliver.claims.DeliveryStore`).

Every method is one short transaction of its own: delivery runs for hours and must never hold a lock while a
message is on the wire. Claims take two index-friendly statements on (send_id, status); on PostgreSQL they skip
rows that other workers hold (FOR UPDATE SKIP LOCKED), SQLite serialises writers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from bulletin.store.delivery_types import Claimed, Edition, Outcome, Outstanding, SendMaterial
from bulletin.errors import NotFoundError
from bulletin.states import OPEN_DELIVERIES, DeliveryStatus, SendState
from bulletin.store.db import session_scope, unavailable
from bulletin.store.journal import LeavingWatch, journal_for
from bulletin.store.models import SERVER_MAX, Delivery, MailingList, Send, SendEdition, Subscriber
from bulletin.store.queries import who_receives

_table = Delivery.__table__
_MARK = (
    _table.update()
    .where(_table.c.id == bindparam("b_id"), _table.c.claimed_by == bindparam("b_worker"))
    .values(
        status=bindparam("b_status"),
        last_error=bindparam("b_error"),
        next_attempt_at=bindparam("b_next"),
        sent_at=bindparam("b_sent_at"),
    )
)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


#: Rows given back untouched: pending again, the attempt not counted (one row a parameter set, like _MARK).
_GIVE_BACK = (
    _table.update()
    .where(_table.c.id == bindparam("b_id"), _table.c.claimed_by == bindparam("b_worker"),
           _table.c.status == bindparam("b_claimed"))
    .values(status=bindparam("b_pending"), claimed_by=None, attempts=_table.c.attempts - 1)
)


class OutcomeRecorder:
    """Records one worker's outcomes on a database connection it keeps, through the driver itself with the two
    statements compiled once: a transaction a message, so each must cost next to nothing (about 20 µs on SQLite,
    where a new session costs 250). A connection that failed is dropped and opened again next time."""

    def __init__(self, engine: Engine, worker_id: str):
        self.engine, self.worker_id = engine, worker_id
        dialect = engine.dialect
        self._mark, self._mark_order, self._mark_own = self._compile(_MARK, dialect)
        self._give_back, self._give_back_order, self._give_back_own = self._compile(_GIVE_BACK, dialect)
        # A time as the dialect stores it (SQLite: the text SQLAlchemy writes and compares, not the driver's own).
        self._when = _table.c.sent_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda value: value)
        self._driver_error = dialect.loaded_dbapi.Error
        self._conn = None

    @staticmethod
    def _compile(statement, dialect) -> tuple[str, list[str] | None, dict]:
        """The SQL text, the order of its parameters (positional paramstyles, as SQLite's), and the values of
        the parameters the statement holds itself (`attempts - 1`)."""
        compiled = statement.compile(dialect=dialect)
        own = {k: v for k, v in compiled.params.items() if not k.startswith("b_")}
        return compiled.string, compiled.positiontup, own

    @staticmethod
    def _rows(params: list[dict], order: list[str] | None, own: dict) -> list:
        if own:
            params = [p | own for p in params]
        return [tuple(p[k] for k in order) for p in params] if order else params

    def record(self, outcomes: Sequence[Outcome], give_back: Sequence[int], *, now: dt.datetime) -> None:
        # `claimed_by` stays on marked rows: it says which worker sent a message.
        try:
            if self._conn is None:
                self._conn = self.engine.raw_connection()
            cursor = self._conn.cursor()
            try:
                if outcomes:
                    sent_at, when = self._when(now), self._when
                    cursor.executemany(self._mark, self._rows([
                        {"b_id": o.delivery_id, "b_worker": self.worker_id, "b_status": o.status.value,
                         "b_error": o.error, "b_next": when(o.next_attempt_at) if o.next_attempt_at else None,
                         "b_sent_at": sent_at if o.status is DeliveryStatus.SENT else None}
                        for o in outcomes
                    ], self._mark_order, self._mark_own))
                if give_back:
                    cursor.executemany(self._give_back, self._rows([
                        {"b_id": i, "b_worker": self.worker_id, "b_claimed": str(DeliveryStatus.CLAIMED),
                         "b_pending": str(DeliveryStatus.PENDING)}
                        for i in give_back
                    ], self._give_back_order, self._give_back_own))
            finally:
                cursor.close()
            self._conn.commit()
        except self._driver_error as e:
            self.close()
            wrapped = DBAPIError.instance(self._mark, None, e, self._driver_error, dialect=self.engine.dialect)
            problem = unavailable(wrapped)
            if problem is None:
                raise wrapped from e
            raise problem from e

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()  # back to the pool, rolled back
            except self._driver_error:
                conn.invalidate()


class DeliveryRows:
    """The SQL behind delivery, over one engine."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def material(self, send_id: int) -> SendMaterial:
        with session_scope(self.engine) as session:
            send = session.get(Send, send_id)
            if send is None:
                raise NotFoundError(f"no send {send_id} (see `bulletin status`)", where="SEND_ID")
            ml = session.get(MailingList, send.list_id)
            editions = tuple(
                Edition(r.language, r.subject, r.preheader, r.html, r.text)
                for r in session.scalars(select(SendEdition).where(SendEdition.send_id == send_id))
            )
            return SendMaterial(
                send_id=send.id, state=SendState(send.state), list_id=send.list_id, list_slug=ml.slug,
                list_name=ml.name, issue_slug=send.issue_slug, language=send.language, started_at=send.started_at,
                editions=editions,
            )

    def claim(self, send_id: int, list_id: int, worker_id: str, limit: int, *, now: dt.datetime,
              stale_before: dt.datetime) -> list[Claimed]:
        with session_scope(self.engine) as session:
            # Due retries and rows of dead workers first (there are few), then never-tried rows. No ORDER BY: any
            # due rows will do, and sorting would read every pending row of a 100,000-recipient send at each claim.
            again = or_(
                and_(Delivery.status == DeliveryStatus.DEFERRED, Delivery.next_attempt_at <= now),
                and_(Delivery.status == DeliveryStatus.CLAIMED, Delivery.claimed_at < stale_before),
            )
            rows = self._claim(session, send_id, [Delivery.status.in_((DeliveryStatus.DEFERRED,
                                                                        DeliveryStatus.CLAIMED)), again],
                               worker_id, now, limit)
            if len(rows) < limit:
                rows += self._claim(session, send_id, [Delivery.status == DeliveryStatus.PENDING], worker_id, now,
                                    limit - len(rows))
            if not rows:
                return []
            receiving = dict(session.execute(
                who_receives(select(Subscriber.id, Subscriber.name), list_id)
                .where(Subscriber.id.in_([r.subscriber_id for r in rows]))
            ).all())
            gone = [r.id for r in rows if r.subscriber_id not in receiving]
            if gone:
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(gone))
                    .values(status=DeliveryStatus.SKIPPED, last_error="no longer subscribed or active when its "
                                                                       "turn came")
                    .execution_options(synchronize_session=False)
                )
            return sorted(
                (Claimed(r.id, r.subscriber_id, r.email, r.language, receiving[r.subscriber_id] or "", r.attempts)
                 for r in rows if r.subscriber_id in receiving),
                key=lambda c: c.id,
            )

    @staticmethod
    def _claim(session: Session, send_id: int, where: list, worker_id: str, now: dt.datetime, limit: int) -> list:
        ids = (select(Delivery.id).where(Delivery.send_id == send_id, *where).limit(limit)
               .with_for_update(skip_locked=True))
        return list(session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids.scalar_subquery()))
            .values(status=DeliveryStatus.CLAIMED, claimed_by=worker_id, claimed_at=now,
                    attempts=Delivery.attempts + 1)
            .returning(Delivery.id, Delivery.subscriber_id, Delivery.email, Delivery.language, Delivery.attempts)
            .execution_options(synchronize_session=False)
        ).all())

    def recorder(self, worker_id: str) -> OutcomeRecorder:
        return OutcomeRecorder(self.engine, worker_id)

    def claimants(self, send_id: int | None) -> set[str]:
        query = select(Delivery.claimed_by).where(Delivery.status == DeliveryStatus.CLAIMED).distinct()
        if send_id is not None:
            query = query.where(Delivery.send_id == send_id)
        with session_scope(self.engine) as session:
            return {w for w in session.scalars(query) if w}

    def release_claims_of(self, workers: Iterable[str], send_id: int | None) -> int:
        where = [Delivery.status == DeliveryStatus.CLAIMED, Delivery.claimed_by.in_(list(workers))]
        if send_id is not None:
            where.append(Delivery.send_id == send_id)
        with session_scope(self.engine) as session:
            return session.execute(
                update(Delivery).where(*where).values(status=DeliveryStatus.PENDING, claimed_by=None)
                .execution_options(synchronize_session=False)
            ).rowcount

    def outstanding(self, send_id: int) -> Outstanding:
        with session_scope(self.engine) as session:
            return self._outstanding(session, send_id)

    @staticmethod
    def _outstanding(session: Session, send_id: int) -> Outstanding:
        counts = dict(session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.send_id == send_id, Delivery.status.in_(OPEN_DELIVERIES))
            .group_by(Delivery.status)
        ).all())
        next_retry = session.scalar(
            select(func.min(Delivery.next_attempt_at))
            .where(Delivery.send_id == send_id, Delivery.status == DeliveryStatus.DEFERRED)
        )
        return Outstanding(counts.get(DeliveryStatus.PENDING, 0), counts.get(DeliveryStatus.CLAIMED, 0),
                           counts.get(DeliveryStatus.DEFERRED, 0), _aware(next_retry))

    def finish_if_done(self, send_id: int, *, now: dt.datetime) -> bool:
        with session_scope(self.engine) as session:
            if self._outstanding(session, send_id).total:
                return False
            return session.execute(
                update(Send)
                .where(Send.id == send_id, Send.state == SendState.RUNNING)
                .values(state=SendState.DONE, finished_at=now, unreachable_server=None, unreachable_error=None,
                        unreachable_since=None, next_try_at=None)
                .execution_options(synchronize_session=False)
            ).rowcount == 1

    def set_unreachable(self, send_id: int, *, server: str, error: str, since: dt.datetime,
                        next_try: dt.datetime) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(Send)
                .where(Send.id == send_id)
                .values(unreachable_server=server[:SERVER_MAX], unreachable_error=error, next_try_at=next_try,
                        unreachable_since=func.coalesce(Send.unreachable_since, since))
                .execution_options(synchronize_session=False)
            )

    def clear_unreachable(self, send_id: int) -> None:
        with session_scope(self.engine) as session:
            session.execute(
                update(Send)
                .where(Send.id == send_id, Send.unreachable_since.is_not(None))
                .values(unreachable_server=None, unreachable_error=None, unreachable_since=None, next_try_at=None)
                .execution_options(synchronize_session=False)
            )

    def leaving(self, list_id: int, since: dt.datetime) -> LeavingWatch:
        return journal_for(self.engine).watch(list_id, since)

    def running_sends(self) -> list[int]:
        with session_scope(self.engine) as session:
            return list(session.scalars(select(Send.id).where(Send.state == SendState.RUNNING).order_by(Send.id)))

    def due_scheduled(self, now: dt.datetime) -> list[int]:
        """Scheduled sends whose time has come and that wait for nothing (see WaitReason)."""
        with session_scope(self.engine) as session:
            return list(session.scalars(
                select(Send.id).where(Send.state == SendState.SCHEDULED, Send.scheduled_at <= now,
                                      Send.waiting.is_(None)).order_by(Send.id)
            ))

    def has_pending(self) -> bool:
        with session_scope(self.engine) as session:
            return session.scalar(
                select(Delivery.id)
                .join(Send, Send.id == Delivery.send_id)
                .where(Send.state == SendState.RUNNING, Delivery.status == DeliveryStatus.PENDING)
                .limit(1)
            ) is not None
