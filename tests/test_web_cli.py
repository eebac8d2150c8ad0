"""`bulletin serve` as a user runs it: it answers on its port, and a bad setting is one clear error line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest
from sqlalchemy import create_engine

from bulletin.web.app import create_app
from bulletin.web.server import background, free_port


def serve(config_path, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bulletin", "--config", str(config_path), "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
                            cwd=config_path.parent)


def test_serve_answers_on_its_port(make_config, sqlite_url):
    cfg = make_config("", db_url=sqlite_url)
    sock = free_port()
    port = sock.getsockname()[1]
    sock.close()
    proc = serve(cfg.path, "--port", str(port))
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "bulletin serve did not answer"
                time.sleep(0.1)
        assert r.json() == {"status": "ok"} and "server" not in r.headers
        assert httpx.get(f"http://127.0.0.1:{port}/subscribe").status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


@pytest.mark.parametrize("setting, message", [
    ('[database]\nurl = "postgresql+psycopg://bulletin@127.0.0.1:1/bulletin"', "error: [database].url: cannot open"),
    ('[web]\nbase_url = "imrap-mali.org"', "[web].base_url must be an http(s) URL"),
])
def test_bad_settings_are_one_clear_line(make_config, tmp_path, setting, message):
    path = tmp_path / "bad.toml"
    path.write_text(setting + "\n", encoding="utf-8")
    proc = serve(path, "--port", "1")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert message in err and "Traceback" not in err, err


def test_a_port_in_use_is_one_clear_line(make_config, sqlite_url):
    cfg = make_config("", db_url=sqlite_url)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = serve(cfg.path, "--port", str(busy.getsockname()[1]))
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert err.startswith("error: [web].port: cannot listen on 127.0.0.1:") and "Traceback" not in err, err


def test_healthz_is_503_when_the_database_is_gone(make_config, sqlite_url):
    cfg = make_config("", db_url=sqlite_url)
    app = create_app(cfg)
    sock = free_port()
    with background(app, sock) as url:
        assert httpx.get(f"{url}/healthz").status_code == 200
        # Nothing listens on port 1: what a monitor must see when the database server is down.
        app.state.site.store.engine = create_engine("postgresql+psycopg://bulletin@127.0.0.1:1/bulletin",
                                              connect_args={"connect_timeout": 2})
        r = httpx.get(f"{url}/healthz")
        assert r.status_code == 503 and r.json()["status"] == "error"
        assert "127.0.0.1:1" not in r.text, "the database address is not shown to the world"
