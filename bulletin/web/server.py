"""Running the web application under uvicorn: in the foreground for `bulletin serve`, or on a background thread.

The access log never holds a token whole: an unsubscribe token names a subscriber, and a confirmation token
carries the address and name of the person who asked, readable by anyone who sees it.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from bulletin.errors import ConfigError

#: Proxy headers (X-Forwarded-For) are trusted only from these addresses: the client IP decides the abuse limits.
TRUSTED_PROXIES = "127.0.0.1"
#: The path segment after these is a token.
_TOKEN_SEGMENT = re.compile(r"(/(?:unsubscribe|confirm)/)([^/?#]+)")
#: What a signed token looks like anywhere else in a URL (itsdangerous: payload.signature, base64url).
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_.-]{16,}")
#: How much of a token's end (its signature's) the log keeps, to match a complaint with a log line.
TOKEN_TAIL = 6


def _tail(token: str) -> str:
    return "…" + token[-TOKEN_TAIL:]


def redact(path: str) -> str:
    """`path` with every token cut to the last characters of its signature."""
    path = _TOKEN_SEGMENT.sub(lambda m: m.group(1) + _tail(m.group(2)), path)
    return _TOKEN_LIKE.sub(lambda m: _tail(m.group()), path)


class RedactTokens(logging.Filter):
    """Applied to uvicorn's access log, whose arguments are (client, method, path, HTTP version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; a port in use, out of range or an unknown host is the user's to fix, said plainly."""
    if not 0 <= port <= 65535:
        raise ConfigError(f"cannot listen on {host}:{port}: a port is a number from 1 to 65535", where="[web].port")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", where="[web].host")
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)  # connections made from now on wait for uvicorn instead of being refused
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", where="[web].port")
    return sock


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted."""
    sock = listen(host, port)
    config = uvicorn.Config(app, proxy_headers=True, forwarded_allow_ips=TRUSTED_PROXIES, server_header=False,
                            log_level="info")
    access = logging.getLogger("uvicorn.access")  # configured by uvicorn.Config above: the filter comes after
    if not any(isinstance(f, RedactTokens) for f in access.filters):
        access.addFilter(RedactTokens())
    uvicorn.Server(config).run(sockets=[sock])


def free_port(host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on a port nobody uses, to hand to `background` (its port is known before the app exists)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def background(app: FastAPI, sock: socket.socket) -> Iterator[str]:
    """Serve `app` on `sock` from a thread while the block runs; yields the base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
