"""`bulletin worker`: fire scheduled sends on time and deliver every running send; `--drain` stops when done."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from bulletin.deliver import claims
from bulletin.deliver import clock as clock_mod
from bulletin.deliver.claims import DeliveryStore
from bulletin.deliver.engine import ProgressFn, deliver_send
from bulletin.deliver.schedule import start_due_sends, start_scheduler


def run_worker(
    engine: Engine,
    cfg,
    *,
    drain: bool = False,
    stop: threading.Event | None = None,
    progress: Callable[[int], ProgressFn] | None = None,
    poll_seconds: float = 5.0,
    on_send_done: Callable[[int, claims.Outstanding], None] | None = None,
    start_due: Callable[[], object] | None = None,
    monthly: dict | None = None,
    clock: clock_mod.Clock | None = None,
    store: DeliveryStore | None = None,
) -> None:
    """Deliver due and unfinished sends. Without `drain`, loop until `stop` is set (or the process is stopped).

    `start_due` runs at the start of every pass to start what has come due (default: every due scheduled
    send); `monthly`: the cron fields of the monthly schedule's wake-up job (see deliver.schedule). The worker's
    naps, its retries and what is due follow `clock`."""
    if store is None:
        from bulletin.store.deliveries import DeliveryRows

        store = DeliveryRows(engine)
    clock = clock or clock_mod.default()
    stop = stop or threading.Event()
    worker_id = claims.new_worker_id()
    sched, wake = start_scheduler(engine, cfg, monthly)
    try:
        while not stop.is_set():
            wake.clear()
            if start_due is not None:
                start_due()
            else:
                start_due_sends(engine, store=store, now=clock.now())
            for send_id in store.running_sends():
                if stop.is_set():
                    break
                left = deliver_send(
                    engine, cfg, send_id, worker_id=worker_id, wait_for_retries=drain, stop=stop,
                    progress=progress(send_id) if progress else None, clock=clock, store=store,
                )
                if on_send_done:
                    on_send_done(send_id, left)
            if drain:
                # Retries are waited for inside deliver_send; what is left now is other workers' business.
                if not _due_work(store, clock):
                    return
                continue
            # Until a scheduled send fires, the worker is told to stop, or it is time to look again.
            clock.wait_until(clock.monotonic() + poll_seconds, wake, stop)
    finally:
        sched.shutdown(wait=True)


def _due_work(store: DeliveryStore, clock: clock_mod.Clock) -> bool:
    """Anything this worker could deliver now: due scheduled sends or unclaimed rows of running sends."""
    claims.release_dead_claims(store)
    return bool(store.due_scheduled(clock.now())) or store.has_pending()
