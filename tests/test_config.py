"""The configuration: defaults on a fresh checkout, every documented key accepted, bad files rejected clearly."""

from __future__ import annotations

import tomllib

import pytest

from bulletin import config as config_mod
from bulletin.cli import main
from bulletin.errors import ConfigError


def test_defaults_work_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BULLETIN_CONFIG", raising=False)
    cfg = config_mod.load()
    assert cfg.path is None
    assert cfg.database.url == "sqlite:///bulletin.db"
    assert cfg.database_url == f"sqlite:///{tmp_path / 'bulletin.db'}"
    assert cfg.delivery.transport == "maildir"
    assert cfg.organisation.timezone == "Africa/Bamako"


def test_example_file_documents_every_key_with_its_default(repo_root):
    """config.example.toml loads, and every key of every section is in it with the built-in default."""
    path = repo_root / "config.example.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    cfg = config_mod.load(path)
    defaults = config_mod.Config()
    for section in config_mod.SECTIONS:
        documented = data.get(section, {})
        for key, default in vars(getattr(defaults, section)).items():
            assert key in documented, f"[{section}].{key} is not documented in config.example.toml"
            if (section, key) != ("organisation", "social"):
                assert getattr(getattr(cfg, section), key) == default, f"[{section}].{key} differs from its default"
    text = path.read_text(encoding="utf-8")
    for section in config_mod.SECTIONS:
        assert f"[{section}]" in text


def test_lookup_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bulletin.toml").write_text('[delivery]\nrate = 3\n')
    other = tmp_path / "other.toml"
    other.write_text('[delivery]\nrate = 7\n')
    monkeypatch.delenv("BULLETIN_CONFIG", raising=False)
    assert config_mod.load().delivery.rate == 3.0
    monkeypatch.setenv("BULLETIN_CONFIG", str(other))
    assert config_mod.load().delivery.rate == 7.0
    explicit = tmp_path / "x.toml"
    explicit.write_text('[delivery]\nrate = 9\n')
    assert config_mod.load(explicit).delivery.rate == 9.0


@pytest.mark.parametrize(
    "body, message, line",
    [
        ("[delivery\nrate = 1\n", "invalid TOML", 1),
        ("[delivery]\nrate = 1\nrate = 2\n", "invalid TOML", 3),
        ("[nope]\nx = 1\n", "unknown section [nope]", 1),
        ("[delivery]\nratte = 1\n", "unknown key [delivery].ratte", 2),
        ("[delivery]\nrate = 'fast'\n", "[delivery].rate must be a number", 2),
        ("[delivery]\ntransport = 'carrier-pigeon'\n", "[delivery].transport must be", 2),
        ("[smtp]\nsecurity = 'tls'\n", "[smtp].security must be", 2),
        ("[smtp]\nport = '25'\n", "[smtp].port must be an integer", 2),
        ("[organisation]\ntimezone = 'Mars/Olympus'\n", "not a known time zone", 2),
        ("[web]\nbase_url = 'localhost:8000'\n", "[web].base_url must be an http(s) URL", 2),
        ("[delivery]\nconnections = 0\n", "[delivery].connections must be from 1 to 100, not 0", 2),
    ],
)
def test_bad_files_say_where_and_what(tmp_path, body, message, line):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ConfigError) as exc:
        config_mod.load(path)
    assert message in str(exc.value.what)
    assert exc.value.where == str(path)
    assert exc.value.line == line


def test_missing_file_is_a_clear_cli_error(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.toml"), "lists"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "missing.toml: configuration file not found" in err
    assert "Traceback" not in err


def test_secret_from_environment_or_created_once(tmp_path, monkeypatch, make_config):
    cfg = make_config("")
    assert cfg.signing_secret() == b"test-secret-0123456789abcdef0123456789"
    monkeypatch.delenv("BULLETIN_SECRET")
    first = cfg.signing_secret()
    assert len(first) >= 32
    assert (tmp_path / ".bulletin-secret").read_bytes() == first
    assert cfg.signing_secret() == first


def test_relative_paths_follow_the_config_file(tmp_path, make_config):
    cfg = make_config('[database]\nurl = "sqlite:///data/b.db"\n[delivery]\noutbox = "mail"\n')
    assert cfg.database_url == f"sqlite:///{tmp_path / 'data' / 'b.db'}"
    assert cfg.resolve_path(cfg.delivery.outbox) == tmp_path / "mail"


def test_unusable_database_url_is_a_clear_error(tmp_path, capsys):
    path = tmp_path / "b.toml"
    path.write_text('[database]\nurl = "nonsense://somewhere/db"\n')
    assert main(["--config", str(path), "lists"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nonsense" in err and "Traceback" not in err


def test_secret_created_once_when_processes_start_together(tmp_path, monkeypatch, make_config):
    """Eight processes asking for the secret of a fresh checkout at once all get the same one."""
    import subprocess
    import sys

    cfg = make_config("")
    monkeypatch.delenv("BULLETIN_SECRET")
    code = "import sys; from bulletin import config; print(config.load(sys.argv[1]).signing_secret().decode())"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(cfg.path)], stdout=subprocess.PIPE) for _ in range(8)]
    secrets_seen = {p.communicate(timeout=60)[0].strip() for p in procs}
    assert [p.returncode for p in procs] == [0] * 8
    assert secrets_seen == {(tmp_path / ".bulletin-secret").read_bytes()}
    assert sorted(f.name for f in tmp_path.iterdir()) == [".bulletin-secret", "bulletin.toml"]
