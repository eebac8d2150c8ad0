"""The delivery engine: connections in parallel claim batches, send each recipient's copy, then mark the rows.

Permanent failures (5xx) mark the recipient failed with the server's reply; temporary ones (4xx, dropped
connections) defer it with a doubling delay until the deadline; a configuration error stops the send and
gives its rows back; an unexpected exception is recorded on the row and raised, never swallowed.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy.engine import Engine

from bulletin.deliver import claims
from bulletin.deliver.context import SendContext, load_context
from bulletin.deliver.ratelimit import TokenBucket
from bulletin.deliver.sends import get_send
from bulletin.deliver.transport import PermanentFailure, Transport, TransportFailure
from bulletin.deliver.transports import open_transport
from bulletin.errors import DeliveryError
from bulletin.store.db import session_scope
from bulletin.store.models import utcnow

#: Outcomes are written at least this often, so that a killed worker repeats few messages.
MARK_EVERY_MESSAGES = 20
MARK_EVERY_SECONDS = 0.5
#: Messages built ahead of the one being sent (with one connection).
LOOKAHEAD = 3

ProgressFn = Callable[[str], None]


class _Connection(threading.Thread):
    """One transport connection working through batches until nothing is due."""

    def __init__(self, run: SendRun, transport: Transport):
        super().__init__(name=f"bulletin-send-{run.ctx.send_id}", daemon=True)
        self.run_ = run
        self.transport = transport
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as e:  # handed to the caller's thread, which raises it
            self.error = e
            self.run_.stop.set()
        finally:
            try:
                self.transport.close()
            except Exception:
                pass

    def _work(self) -> None:
        r = self.run_
        while not r.stop.is_set():
            with session_scope(r.engine) as session:
                batch = claims.claim_batch(
                    session, r.ctx.send_id, r.ctx.list_id, r.worker_id, r.batch_size, r.claim_timeout
                )
            if not batch:
                return
            self._deliver(batch)

    def _deliver(self, batch: list[claims.Claimed]) -> None:
        r = self.run_
        outcomes: list[claims.Outcome] = []
        last_mark = time.monotonic()
        done = 0
        # Messages are built (and signed) by the builder pool a few ahead of the one on the wire: the RSA work of
        # the next message overlaps this one's network round trips.
        ahead: deque[Future] = deque()
        try:
            for i, c in enumerate(batch):
                if r.stop.is_set():
                    break
                if r.builders is None:
                    envelope, data = r.ctx.message(c)
                else:
                    while len(ahead) <= LOOKAHEAD and i + len(ahead) < len(batch):
                        ahead.append(r.builders.submit(r.ctx.message, batch[i + len(ahead)]))
                    envelope, data = ahead.popleft().result()
                r.bucket.acquire()
                outcomes.append(self._send_one(c, envelope, data))
                done += 1
                r.progress(outcomes[-1].status)
                if len(outcomes) >= MARK_EVERY_MESSAGES or time.monotonic() - last_mark > MARK_EVERY_SECONDS:
                    self._mark(outcomes)
                    outcomes, last_mark = [], time.monotonic()
        except DeliveryError:
            # The configuration is wrong for everybody: keep what happened, give the rest back untouched.
            self._mark(outcomes)
            with session_scope(r.engine) as session:
                claims.release(session, r.worker_id, [c.id for c in batch[done:]])
            raise
        except BaseException as e:
            outcomes.append(claims.Outcome(batch[done].id, "deferred", f"internal error: {type(e).__name__}: {e}",
                                           utcnow() + dt.timedelta(seconds=r.retry_initial)))
            self._mark(outcomes)
            with session_scope(r.engine) as session:
                claims.release(session, r.worker_id, [c.id for c in batch[done + 1:]])
            raise
        finally:
            for f in ahead:
                f.cancel()
        self._mark(outcomes)
        if r.stop.is_set():
            with session_scope(r.engine) as session:
                claims.release(session, r.worker_id, [c.id for c in batch[done:]])

    def _mark(self, outcomes: list[claims.Outcome]) -> None:
        if outcomes:
            with session_scope(self.run_.engine) as session:
                claims.mark(session, self.run_.worker_id, outcomes)

    def _send_one(self, c: claims.Claimed, envelope: str, data: bytes) -> claims.Outcome:
        r = self.run_
        try:
            self.transport.send(envelope, [c.email], data)
        except PermanentFailure as e:
            return claims.Outcome(c.id, "failed", e.reply)
        except TransportFailure as e:  # temporary, a lost connection or an unreachable server: later
            return r.retry_or_fail(c, e.reply)
        return claims.Outcome(c.id, "sent")


class SendRun:
    """One worker's share of one send."""

    def __init__(self, engine: Engine, cfg, ctx: SendContext, *, worker_id: str, progress: ProgressFn | None = None,
                 transport_factory: Callable[[], Transport] | None = None, stop: threading.Event | None = None):
        d = cfg.delivery
        self.engine, self.cfg, self.ctx, self.worker_id = engine, cfg, ctx, worker_id
        self.progress: ProgressFn = progress or (lambda status: None)
        self.transport_factory = transport_factory or (lambda: open_transport(cfg))
        self.stop = stop or threading.Event()
        self.bucket = TokenBucket(d.rate)
        self.connections = d.connections
        # One connection: build and sign the next messages in a pool while this one is on the wire. Several
        # connections already overlap each other, and the pool's thread switches would cost more than they save.
        self.pipeline = self.connections == 1
        self.batch_size = d.batch_size
        self.claim_timeout = d.claim_timeout_seconds
        self.retry_initial = d.retry_initial_seconds
        self.retry_max = d.retry_max_seconds
        self.deadline = ctx.started_at + dt.timedelta(hours=d.retry_deadline_hours)

    def retry_or_fail(self, c: claims.Claimed, reply: str) -> claims.Outcome:
        delay = min(self.retry_initial * 2 ** max(0, c.attempts - 1), self.retry_max)
        at = utcnow() + dt.timedelta(seconds=delay)
        if at > self.deadline:
            return claims.Outcome(c.id, "failed", f"gave up after {c.attempts} attempts: {reply}")
        return claims.Outcome(c.id, "deferred", reply, at)

    def pass_once(self) -> None:
        """All connections work until nothing is due; raises the first error a connection met."""
        self.builders = (
            ThreadPoolExecutor(max_workers=min(8, max(2, os.cpu_count() or 1)), thread_name_prefix="bulletin-build")
            if self.pipeline
            else None
        )
        threads = [_Connection(self, self.transport_factory()) for _ in range(self.connections)]
        for t in threads:
            t.start()
        try:
            for t in threads:
                while t.is_alive():
                    t.join(0.2)
        except BaseException:
            self.stop.set()
            for t in threads:
                t.join()
            raise
        finally:
            if self.builders is not None:
                self.builders.shutdown(wait=True, cancel_futures=True)
        for t in threads:
            if t.error is not None:
                raise t.error


def deliver_send(
    engine: Engine,
    cfg,
    send_id: int,
    *,
    worker_id: str | None = None,
    wait_for_retries: bool = True,
    progress: ProgressFn | None = None,
    transport_factory: Callable[[], Transport] | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_wait: Callable[[claims.Outstanding], None] | None = None,
) -> claims.Outstanding:
    """Deliver a running send until every row is sent, failed or skipped, or, with `wait_for_retries` false,
    until only deferred retries (and other workers' claims) are left. Returns what is left. `on_wait` hears
    of each wait for a retry."""
    worker_id = worker_id or claims.new_worker_id()
    with session_scope(engine) as session:
        send = get_send(session, send_id)
        if send.state != "running":
            raise DeliveryError(f"send {send_id} is {send.state}, not running", where="SEND_ID")
        claims.release_dead_claims(session, send_id)
    ctx = load_context(engine, cfg, send_id)
    run = SendRun(engine, cfg, ctx, worker_id=worker_id, progress=progress,
                  transport_factory=transport_factory, stop=stop)
    while True:
        run.pass_once()
        with session_scope(engine) as session:
            claims.finish_if_done(session, send_id)
            left = claims.outstanding(session, send_id)
        if run.stop.is_set() or left.total == 0 or left.pending:
            if left.pending and not run.stop.is_set():
                continue  # given back by a stopped or dead worker meanwhile
            return left
        if not (wait_for_retries and left.deferred and left.next_retry_at):
            return left
        if on_wait:
            on_wait(left)
        wait = (left.next_retry_at - utcnow()).total_seconds()
        sleep(min(max(wait, 0.01), 5.0))

