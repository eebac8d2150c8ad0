"""Files Bulletin creates are its owner's only (0600, folders 0700) unless `[files].mode` says otherwise: the SQLite
database with its WAL and SHM, the maildir outbox, exports and the generated secret. Checked through the real
`bulletin` command, whose umask is the only thing that decides; a DKIM key every user can read gets a warning."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bulletin import files
from bulletin.cli import main
from tests.deliver_support import dkim_key

REPO = Path(__file__).resolve().parent.parent
BULLETIN = Path(sys.executable).parent / "bulletin"


def bulletin(config: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [str(BULLETIN)] if BULLETIN.exists() else [sys.executable, "-m", "bulletin"]
    return subprocess.run([*cmd, "--config", str(config), *args], cwd=config.parent, capture_output=True, text=True,
                          timeout=300, env=env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def write_config(folder: Path, extra: str = "") -> Path:
    config = folder / "bulletin.toml"
    config.write_text(f'[database]\nurl = "sqlite:///data/bulletin.db"\n[delivery]\noutbox = "outbox"\n{extra}',
                      encoding="utf-8")
    return config


@pytest.fixture(autouse=True)
def _everyone_may_read(monkeypatch):
    """The commands start from the most open umask, so that only Bulletin's own setting can make files private."""
    previous = os.umask(0)
    yield
    os.umask(previous)


@pytest.mark.parametrize("setting, file_mode, folder_mode", [("", 0o600, 0o700),
                                                              ('[files]\nmode = "0640"\n', 0o640, 0o750)])
def test_database_outbox_export_and_secret(tmp_path, setting, file_mode, folder_mode):
    config = write_config(tmp_path, setting)
    env = {k: v for k, v in os.environ.items() if k != "BULLETIN_SECRET"}  # the secret file is generated
    for args in (["lists", "add", "news", "--name", "News"],
                 ["subscribers", "add", "awa@example.org", "--list", "news"],
                 ["subscribers", "export", "--list", "news", "--out", "news.csv"],
                 ["subscribers", "add", "moussa@example.org", "--list", "news"],
                 ["subscribers", "unsubscribe", "awa@example.org"],  # the unsubscribe journal
                 ["send", str(REPO / "issues" / "2023-07"), "--list", "news"],  # the outcome logs' folder
                 ["send", str(REPO / "issues" / "2023-07"), "--to", "moi@imrap-mali.org"]):
        done = bulletin(config, *args, env=env)
        assert done.returncode == 0, done.stderr
    assert mode(tmp_path / "data") == folder_mode
    assert mode(tmp_path / "data" / "bulletin.db") == file_mode
    assert mode(tmp_path / "data" / "bulletin.unsubscribes.db") == file_mode
    assert mode(tmp_path / "data" / "bulletin.db.spool") == folder_mode
    assert mode(tmp_path / "news.csv") == file_mode
    outbox = tmp_path / "outbox"
    assert {mode(p) for p in (outbox, outbox / "new", outbox / "cur", outbox / "tmp")} == {folder_mode}
    messages = list((outbox / "new").iterdir())
    assert messages and {mode(m) for m in messages} == {file_mode}
    assert mode(tmp_path / ".bulletin-secret") == 0o600  # a secret stays its owner's whatever [files].mode says


def test_the_wal_and_shm_files_of_a_running_server(tmp_path):
    """SQLite gives its WAL and SHM files the database's mode; they exist while a process holds the database."""
    config = write_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(BULLETIN)] if BULLETIN.exists() else [sys.executable, "-m", "bulletin"]
    server = subprocess.Popen([*cmd, "--config", str(config), "serve", "--port", str(port)], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # printed once the database is open and migrated
        assert line.startswith("serving "), server.communicate(timeout=30)
        data = tmp_path / "data"
        assert {p.name: mode(p) for p in data.iterdir() if p.name.startswith("bulletin.db")} == {
            "bulletin.db": 0o600, "bulletin.db-wal": 0o600, "bulletin.db-shm": 0o600,
            "bulletin.db.migrating": 0o600}
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_the_umask_of_the_calling_process_is_restored(tmp_path, capsys):
    config = write_config(tmp_path)
    assert main(["--config", str(config), "lists", "add", "news", "--name", "News"]) == 0
    assert os.umask(0) == 0  # what the fixture set, not Bulletin's 077


def test_mode_helpers():
    assert files.folder_mode(0o600) == 0o700 and files.folder_mode(0o640) == 0o750
    assert files.folder_mode(0o644) == 0o755 and files.folder_mode(0o660) == 0o770
    assert files.umask_for(0o600) == 0o077 and files.umask_for(0o640) == 0o027


@pytest.mark.parametrize("key_mode, warned", [(0o644, True), (0o640, False), (0o600, False)])
def test_a_dkim_key_readable_by_everyone_is_one_warning_line(tmp_path, key_mode, warned):
    key, _ = dkim_key(tmp_path)
    key.chmod(key_mode)
    config = write_config(tmp_path, f'[dkim]\ndomain = "imrap-mali.org"\nselector = "bulletin"\n'
                                    f'private_key_file = "{key}"\n')
    done = bulletin(config, "send", str(REPO / "issues" / "2023-07"), "--to", "moi@imrap-mali.org,toi@imrap-mali.org")
    assert done.returncode == 0, done.stderr
    expected = (f"warning: {key}: the DKIM private key is readable by every user of this machine (chmod 600 {key})\n"
                if warned else "")
    assert [line for line in done.stderr.splitlines(keepends=True) if "DKIM" in line] == (
        [expected] if warned else [])
    assert len(list((tmp_path / "outbox" / "new").iterdir())) >= 2  # signed and sent all the same
