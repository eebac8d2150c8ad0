"""The delivery engine: connections in parallel claim batches and send each recipient's copy; one writer records
each outcome as soon as the server has answered.

Who is at fault decides what happens next (see transport.py):
- a recipient's 5xx marks it failed with the server's reply; its 4xx defers it with a doubling delay until the
  deadline;
- a 421 or a dropped connection closes that connection and gives its unsent recipients back untouched;
- the server failing (no connection, a timeout, TLS or login refused, 421 at greeting) makes the whole send wait,
  with a doubling delay and for as long as it takes: nobody's attempt is counted, nobody is failed, the send
  says why it waits (`status`, the log) and goes on by itself when the server answers;
- a database that is locked or read-only pauses the send: nothing more goes on the wire until the outcomes in
  hand are recorded, so resuming repeats nobody;
- a configuration error stops the send and gives its rows back; an unexpected exception is recorded on the row
  and raised, never swallowed.

A kill repeats at most one message per connection: each outcome is written to the worker's log (outcomelog.py)
by its connection as soon as the server answered, before the next message starts; the database gets them in
groups from the writer (writer.py), and the next worker of this machine replays a dead worker's log first.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from bulletin import i18n
from bulletin.deliver import claims
from bulletin.deliver import clock as clock_mod
from bulletin.deliver.claims import Claimed, DeliveryStore, Outcome, Outstanding
from bulletin.deliver import outcomelog
from bulletin.deliver.context import SendContext, build_context
from bulletin.deliver.outcomelog import OutcomeLog, spool_folder
from bulletin.deliver.ratelimit import TokenBucket
from bulletin.deliver.transport import (
    ConnectionLost,
    PermanentFailure,
    ServerUnavailable,
    TemporaryFailure,
    Transport,
)
from bulletin.deliver.transports import open_transport
from bulletin.deliver.writer import OutcomeWriter
from bulletin.errors import DatabaseUnavailable, DeliveryError
from bulletin.states import DeliveryStatus, SendState

log = logging.getLogger("bulletin.deliver")

#: Messages built ahead of the one being sent (with one connection).
LOOKAHEAD = 3
#: A connection lost this many times in a row, with no message going through, is the server failing.
LOSSES_IN_A_ROW = 3
#: A paused send tries its database again after this many seconds, doubling up to the second figure.
DATABASE_RETRY = (1.0, 60.0)
#: A send waiting for retries looks this often whether rows came back meanwhile (from a stopped worker).
RECHECK_SECONDS = 5.0
#: After a pass that could claim nothing although rows are pending (other workers hold them), wait this long.
AGAIN_SECONDS = 0.5

ProgressFn = Callable[[str], None]
#: The reason kept on the row of someone who left while the send ran.
LEFT_MEANWHILE = "unsubscribed while the send ran"


@dataclass(frozen=True)
class Waiting:
    """Why a send does not go on for now: its server or its database, since when, and the next try."""

    cause: str  # "server" | "database"
    what: str  # host:port, or "database"
    error: str
    since: dt.datetime
    next_try: dt.datetime
    steps: int


class _Connection(threading.Thread):
    """One transport connection working through batches until nothing is due or the send must stop."""

    def __init__(self, run: SendRun, transport: Transport):
        super().__init__(name=f"bulletin-send-{run.ctx.send_id}", daemon=True)
        self.run_ = run
        self.transport = transport
        self.losses = 0
        self.server_failed = False  # this connection's server failed it: it ends, the others go on

    def run(self) -> None:
        try:
            self._work()
        except BaseException as e:  # a configuration error or a bug: the send stops and the caller raises it
            self.run_.fail(e)
        finally:
            try:
                self.transport.close()
            except Exception:
                pass

    def _work(self) -> None:
        r = self.run_
        while not (r.halted() or self.server_failed):
            try:
                self.transport.open()
            except ServerUnavailable as e:
                r.server_failed(e)
                return
            r.server_answered()
            try:
                batch = r.claim()
            except DatabaseUnavailable as e:
                r.database_failed(e)
                return
            if not batch:
                return
            self._deliver(batch)

    def _deliver(self, batch: list[Claimed]) -> None:
        r = self.run_
        done = 0
        # Messages are built (and signed) by the builder pool a few ahead of the one on the wire: the RSA work of
        # the next message overlaps this one's network round trips.
        ahead: deque[Future] = deque()
        try:
            for i, c in enumerate(batch):
                if r.halted():
                    break
                built: Future | None = None
                if r.builders is not None:
                    while len(ahead) <= LOOKAHEAD and i + len(ahead) < len(batch):
                        ahead.append(r.builders.submit(r.ctx.message, batch[i + len(ahead)]))
                    built = ahead.popleft()
                try:
                    left = r.leaving.has_left(c.email)
                except DatabaseUnavailable as e:
                    r.database_failed(e)
                    break
                if left:  # unsubscribed since the row was claimed, maybe still in the journal only
                    if built is not None:
                        built.cancel()
                    r.record(Outcome(c.id, DeliveryStatus.SKIPPED, LEFT_MEANWHILE))
                    done += 1
                    continue
                envelope, data = built.result() if built is not None else r.ctx.message(c)
                r.bucket.acquire()
                outcome = self._send_one(c, envelope, data)
                if outcome is None:
                    break  # given back with the rest of the batch
                r.record(outcome)
                done += 1
        except DeliveryError:
            raise  # the configuration is wrong for everybody: the rest (this one too) goes back untouched
        except BaseException as e:
            r.record(Outcome(batch[done].id, DeliveryStatus.DEFERRED, f"internal error: {type(e).__name__}: {e}",
                             r.retry_at(1)))
            done += 1
            raise
        finally:
            for f in ahead:
                f.cancel()
            r.writer.give_back([c.id for c in batch[done:]])

    def _send_one(self, c: Claimed, envelope: str, data: bytes) -> Outcome | None:
        """What became of one recipient, or None when it goes back untouched (the connection or the server
        failed, or the send is pausing)."""
        r = self.run_
        try:
            self.transport.send(envelope, [c.email], data)
        except PermanentFailure as e:
            outcome = Outcome(c.id, DeliveryStatus.FAILED, e.reply)
        except TemporaryFailure as e:
            outcome = r.retry_or_fail(c, e.reply)
        except ConnectionLost as e:
            self.losses += 1
            if self.losses >= LOSSES_IN_A_ROW:
                server = getattr(self.transport, "server", "the mail server")
                r.server_failed(ServerUnavailable(
                    f"{server} lost the connection {self.losses} times in a row: {e.reply}", server))
                self.server_failed = True
            return None
        except ServerUnavailable as e:
            r.server_failed(e)
            self.server_failed = True
            return None
        else:
            outcome = Outcome(c.id, DeliveryStatus.SENT)
        self.losses = 0
        return outcome


class SendRun:
    """One worker's share of one send: its connections, its writer, and why it waits when it does."""

    def __init__(self, store: DeliveryStore, cfg, ctx: SendContext, *, worker_id: str,
                 progress: ProgressFn | None = None, transport_factory: Callable[[], Transport] | None = None,
                 stop: threading.Event | None = None, clock: clock_mod.Clock | None = None):
        d = cfg.delivery
        self.store, self.cfg, self.ctx, self.worker_id = store, cfg, ctx, worker_id
        self.clock = clock or clock_mod.default()
        self.progress: ProgressFn = progress or (lambda status: None)
        self.transport_factory = transport_factory or (lambda: open_transport(cfg))
        self.stop = stop or threading.Event()
        self.bucket = TokenBucket(d.rate, clock=self.clock)
        self.connections = d.connections
        # One connection: build and sign the next messages in a pool while this one is on the wire. Several
        # connections already overlap each other, and the pool's thread switches would cost more than they save.
        self.pipeline = self.connections == 1
        self.builders: ThreadPoolExecutor | None = None
        self.batch_size = d.batch_size
        self.claim_timeout = dt.timedelta(seconds=d.claim_timeout_seconds)
        self.retry_initial = d.retry_initial_seconds
        self.retry_max = d.retry_max_seconds
        self.server_retry = (d.server_retry_initial_seconds, d.server_retry_max_seconds)
        self.deadline = ctx.started_at + dt.timedelta(hours=d.retry_deadline_hours)
        self.zone = ZoneInfo(cfg.organisation.timezone)
        self.writer = OutcomeWriter(store, worker_id, self.clock, on_unavailable=self.database_failed,
                                    on_error=self.fail)
        self.log = OutcomeLog(spool_folder(cfg), worker_id, ctx.send_id)
        self.failure: BaseException | None = None
        self.waiting: Waiting | None = None
        self._lock = threading.Lock()
        self._steps = {"server": 0, "database": 0}
        self._since: dict[str, dt.datetime] = {}
        self._spare: Transport | None = None
        self._announced: Waiting | None = None
        self._trouble: ServerUnavailable | None = None
        self.claimed_in_pass = False
        self.leaving = store.leaving(ctx.list_id, ctx.started_at)

    # -- what stops the connections

    def halted(self) -> bool:
        return self.stop.is_set() or self.waiting is not None or self.failure is not None

    def fail(self, e: BaseException) -> None:
        """Stop the send; the caller raises the first failure. Later ones are logged, never lost."""
        with self._lock:
            first = self.failure is None
            if first:
                self.failure = e
        if not first:
            log.error("send %s: also: %s: %s", self.ctx.send_id, type(e).__name__, e, exc_info=e)

    def _wait_for(self, cause: str, what: str, error: str) -> None:
        with self._lock:
            if self.waiting is not None and self.waiting.cause == cause:
                return  # another connection met the same failure in the same pass
            now = self.clock.now()
            steps = self._steps[cause]
            initial, longest = self.server_retry if cause == "server" else DATABASE_RETRY
            delay = min(initial * 2 ** steps, longest)
            since = self._since.setdefault(cause, now)
            self.waiting = Waiting(cause, what, error, since, now + dt.timedelta(seconds=delay), steps)
            self._steps[cause] = steps + 1

    def server_failed(self, e: ServerUnavailable) -> None:
        """A connection could not work: it ends, and the others go on. Whether the send must wait is seen when
        the pass ends (`server_trouble`): a server that refuses one connection too many is not down."""
        with self._lock:
            self._trouble = e

    def server_trouble(self) -> ServerUnavailable | None:
        with self._lock:
            trouble, self._trouble = self._trouble, None
            return trouble

    def wait_for_server(self, e: ServerUnavailable) -> None:
        self._wait_for("server", e.server, e.reply)

    def database_failed(self, e: DatabaseUnavailable) -> None:
        self._wait_for("database", "database", e.what)

    def server_answered(self) -> None:
        if self._steps["server"]:
            with self._lock:
                self._steps["server"] = 0
                self._since.pop("server", None)

    # -- the work

    def claim(self) -> list[Claimed]:
        now = self.clock.now()
        batch = self.store.claim(self.ctx.send_id, self.ctx.list_id, self.worker_id, self.batch_size, now=now,
                                 stale_before=now - self.claim_timeout)
        if batch:
            self.claimed_in_pass = True
        if self._steps["database"]:
            with self._lock:
                self._steps["database"] = 0
                self._since.pop("database", None)
        return batch

    def record(self, outcome: Outcome) -> None:
        """In the log at once (a kill cannot lose it), in the database with the next group."""
        self.log.append(outcome)
        self.writer.record(outcome)
        self.progress(outcome.status)

    def retry_at(self, attempts: int) -> dt.datetime:
        delay = min(self.retry_initial * 2 ** max(0, attempts - 1), self.retry_max)
        return self.clock.now() + dt.timedelta(seconds=delay)

    def retry_or_fail(self, c: Claimed, reply: str) -> Outcome:
        at = self.retry_at(c.attempts)
        if at > self.deadline:
            return Outcome(c.id, DeliveryStatus.FAILED, f"gave up after {c.attempts} attempts: {reply}")
        return Outcome(c.id, DeliveryStatus.DEFERRED, reply, at)

    def pass_once(self) -> None:
        """All connections work until nothing is due or the send must wait or stop; then every outcome is
        recorded (or the writer holds them because the database does not take them)."""
        self.claimed_in_pass = False
        self.builders = (
            ThreadPoolExecutor(max_workers=min(8, max(2, os.cpu_count() or 1)), thread_name_prefix="bulletin-build")
            if self.pipeline
            else None
        )
        threads = []
        try:
            for _ in range(self.connections):
                transport, self._spare = self._spare or self.transport_factory(), None
                threads.append(_Connection(self, transport))
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            self.stop.set()
            for t in threads:
                if t.is_alive():
                    t.join()
            raise
        finally:
            if self.builders is not None:
                self.builders.shutdown(wait=True, cancel_futures=True)
            self.writer.drain()

    # -- waiting

    def _local(self, t: dt.datetime) -> str:
        return t.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def announce(self) -> None:
        """Say once per try why the send waits: in the log, and on the send for `status` (the server)."""
        w = self.waiting
        if w is None or w == self._announced:
            return
        self._announced = w
        if w.cause == "server":
            log.warning(i18n.Message("deliver.waiting.server", send=self.ctx.send_id, server=w.what,
                                     since=self._local(w.since), next_try=self._local(w.next_try), error=w.error))
            try:
                self.store.set_unreachable(self.ctx.send_id, server=w.what, error=w.error, since=w.since,
                                       next_try=w.next_try)
            except DatabaseUnavailable:
                pass  # the log says it; the database will hear of it at the next try
        else:
            log.warning(i18n.Message("deliver.waiting.database", send=self.ctx.send_id, error=w.error,
                                     since=self._local(w.since), next_try=self._local(w.next_try),
                                     held=self.writer.held_count))

    def wait(self) -> bool:
        """Until the next try (False when told to stop meanwhile), then try: the server with one connection,
        the database with the outcomes held. The send goes on (waiting is None) or waits again, longer."""
        w = self.waiting
        self.announce()
        left = (w.next_try - self.clock.now()).total_seconds()
        if self.clock.wait_until(self.clock.monotonic() + max(left, 0.0), self.stop):
            return False
        if w.cause == "server":
            self._try_server(w)
        else:
            self._try_database(w)
        return True

    def _try_server(self, w: Waiting) -> None:
        transport = self.transport_factory()
        try:
            transport.open()
        except ServerUnavailable as e:
            transport.close()
            with self._lock:
                self.waiting = None
            self.wait_for_server(e)
            return
        except BaseException:
            transport.close()
            raise
        self._spare = transport
        self.server_answered()
        with self._lock:
            self.waiting = None
        log.warning(i18n.Message("deliver.resumed.server", send=self.ctx.send_id, server=w.what))
        try:
            self.store.clear_unreachable(self.ctx.send_id)
        except DatabaseUnavailable as e:
            self.database_failed(e)

    def _try_database(self, w: Waiting) -> None:
        with self._lock:
            self.waiting = None
        if self.writer.held:
            self.writer.retry()
            if not self.writer.drain():
                return  # the writer met the failure again and said so (database_failed)
        log.warning(i18n.Message("deliver.resumed.database", send=self.ctx.send_id))

    def close(self) -> None:
        """Record what is left (unless the database still refuses it) and end the writer."""
        self.leaving.close()
        if self._spare is not None:
            self._spare.close()
            self._spare = None
        unrecorded = self.writer.close()
        self.log.close(keep=bool(unrecorded))
        if unrecorded:
            log.warning(i18n.Message("deliver.unrecorded", send=self.ctx.send_id, n=unrecorded))


def deliver_send(
    engine: Engine | None,
    cfg,
    send_id: int,
    *,
    worker_id: str | None = None,
    wait_for_retries: bool = True,
    progress: ProgressFn | None = None,
    transport_factory: Callable[[], Transport] | None = None,
    stop: threading.Event | None = None,
    on_wait: Callable[[Outstanding], None] | None = None,
    clock: clock_mod.Clock | None = None,
    store: DeliveryStore | None = None,
) -> Outstanding:
    """Deliver a running send until every row is sent, failed or skipped, or, with `wait_for_retries` false,
    until only deferred retries (and other workers' claims) are left. Returns what is left. `on_wait` hears
    of each wait for a retry. A send whose server is unreachable or whose database does not record waits here,
    as long as it takes, unless `stop` is set."""
    if store is None:
        from bulletin.store.deliveries import DeliveryRows

        store = DeliveryRows(engine)
    clock = clock or clock_mod.default()
    worker_id = worker_id or claims.new_worker_id()
    material = store.material(send_id)
    if material.state is not SendState.RUNNING:
        raise DeliveryError(f"send {send_id} is {material.state}, not running", where="SEND_ID")
    # What dead workers of this machine logged goes into the database before their rows are given back.
    outcomelog.replay(spool_folder(cfg), store, send_id, clock.now())
    claims.release_dead_claims(store, send_id)
    run = SendRun(store, cfg, build_context(cfg, material, now=clock.now()), worker_id=worker_id,
                  progress=progress, transport_factory=transport_factory, stop=stop, clock=clock)
    run.writer.start()

    def what_is_left() -> Outstanding:
        try:
            return store.outstanding(send_id)
        except DatabaseUnavailable:
            return Outstanding(0, 0, 0, None)

    try:
        while True:
            if run.waiting is not None:
                if not run.wait():
                    return what_is_left()
                continue
            run.pass_once()
            if run.failure is not None:
                raise run.failure
            if run.waiting is not None:
                continue
            try:
                store.finish_if_done(send_id, now=clock.now())
                left = store.outstanding(send_id)
            except DatabaseUnavailable as e:
                run.database_failed(e)
                continue
            trouble = run.server_trouble()
            due = left.pending or (left.deferred and left.next_retry_at and left.next_retry_at <= clock.now())
            if trouble is not None and due and not run.stop.is_set():
                run.wait_for_server(trouble)  # no connection could do what is due: the server is down
                continue
            if run.stop.is_set() or left.total == 0:
                return left
            if left.pending:
                # Given back by a stopped or dead worker meanwhile: take them. Rows this pass could not claim
                # (another worker's lock) are looked at again shortly, not in a busy loop.
                if not run.claimed_in_pass and clock.wait_until(clock.monotonic() + AGAIN_SECONDS, run.stop):
                    return left
                continue
            if not (wait_for_retries and left.deferred and left.next_retry_at):
                return left
            if on_wait:
                on_wait(left)
            # Until the next retry is due, looking now and then whether rows came back from a stopped worker.
            while not (left.pending or left.next_retry_at is None or left.next_retry_at <= clock.now()):
                wait = min((left.next_retry_at - clock.now()).total_seconds(), RECHECK_SECONDS)
                if clock.wait_until(clock.monotonic() + max(wait, 0.01), run.stop):
                    return what_is_left()
                try:
                    left = store.outstanding(send_id)
                except DatabaseUnavailable as e:
                    run.database_failed(e)
                    break
    finally:
        run.close()

