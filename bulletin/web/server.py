"""Running the web application under uvicorn: in the foreground for `bulletin serve`, or on a background thread."""

from __future__ import annotations

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


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; a port in use or an unknown host is the user's to fix, said plainly."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", where="[web].host")
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}", where="[web].port")
    return sock


def serve(app: FastAPI, host: str, port: int) -> None:
    """Serve until interrupted."""
    sock = listen(host, port)
    config = uvicorn.Config(app, proxy_headers=True, forwarded_allow_ips=TRUSTED_PROXIES, server_header=False,
                            log_level="info")
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
