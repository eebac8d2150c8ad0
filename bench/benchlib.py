"""What several benchmarks share: an empty PostgreSQL schema, a running `bulletin serve`, timed HTTP requests.
The scripts run as `python bench/NAME.py`, so this folder is on their path."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx


def reset_pg(url: str) -> None:
    """Drop and recreate the public schema of a PostgreSQL database (everything in it is lost)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def wait_until_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("bulletin serve exited")
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit("bulletin serve did not start")


def timed_requests(name: str, make_request: Callable[[httpx.Client, int], httpx.Response], n: int, clients: int,
                   *, timeout: float = 30) -> tuple[list[float], float]:
    """`n` requests from `clients` threads (one keep-alive connection each), each expected to answer 200: their
    latencies in seconds, sorted, and the seconds they took together."""
    local = threading.local()
    opened: list[httpx.Client] = []

    def one(i: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=timeout)
            opened.append(local.client)
        start = time.perf_counter()
        r = make_request(local.client, i)
        if r.status_code != 200:
            raise SystemExit(f"{name}: request {i} answered {r.status_code}")
        return time.perf_counter() - start

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(pool.map(one, range(n)))
    elapsed = time.perf_counter() - t0
    for client in opened:
        client.close()
    return latencies, elapsed


def median_p95(latencies: list[float]) -> tuple[float, float]:
    """Of sorted latencies."""
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
