"""Every configuration value is checked when the file is read: through the real `bulletin` command, a wrong value
is one line `error: FILE:LINE: [section].key WHAT`, exit status 1, no traceback, and the database is untouched."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bulletin import config as config_mod
from bulletin.errors import ConfigError

BULLETIN = Path(sys.executable).parent / "bulletin"


def bulletin(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    cmd = [str(BULLETIN)] if BULLETIN.exists() else [sys.executable, "-m", "bulletin"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` (the database and its WAL included) with a hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder with a database that has a list, made by `bulletin` with a good configuration (shared: each test
    checks that it leaves every file of it as it was)."""
    tmp_path = tmp_path_factory.mktemp("site")
    (tmp_path / "afile").write_text("a file where a folder is expected\n")
    good = tmp_path / "good.toml"
    good.write_text('[database]\nurl = "sqlite:///bulletin.db"\n', encoding="utf-8")
    done = bulletin("--config", str(good), "lists", "add", "news", "--name", "News", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


CASES = [
    # (section and keys, expected error after "error: FILE:LINE: ")
    ('[delivery]\nfrom_address = "bulletin@imrap-mali.org\\r\\nBcc: all@evil.example"',
     "[delivery].from_address must be one line (it holds a line break)"),
    ('[delivery]\nfrom_address = "not-an-address"',
     "[delivery].from_address must be an email address like name@example.org, not 'not-an-address'"),
    ('[delivery]\nreply_to = "contact@imrap-mali.org\\nBcc: x@evil.example"',
     "[delivery].reply_to must be one line (it holds a line break)"),
    ('[delivery]\nreply_to = "contact at imrap"',
     "[delivery].reply_to must be an email address like name@example.org, not 'contact at imrap'"),
    ('[delivery]\nreturn_path = "bounces+{token}"',
     "[delivery].return_path must be an email address like name@example.org, not 'bounces+{token}'"),
    ('[delivery]\nfrom_name = "IMRAP\\r\\nBcc: all@evil.example"',
     "[delivery].from_name must be one line (it holds a line break)"),
    ('[organisation]\nemail = "contact@@imrap-mali.org"',
     "[organisation].email must be an email address like name@example.org, not 'contact@@imrap-mali.org'"),
    ('[organisation]\nemail = "contact@exa mple.org"',
     "[organisation].email has a host name that is not one: 'exa mple.org'"),
    ('[smtp]\nport = 99999', "[smtp].port must be from 1 to 65535 (a TCP port), not 99999"),
    ('[web]\nport = 0', "[web].port must be from 1 to 65535 (a TCP port), not 0"),
    ('[bounces]\nimap_port = -993', "[bounces].imap_port must be from 1 to 65535 (a TCP port), not -993"),
    ('[delivery]\nrate = nan', "[delivery].rate must be a finite number of messages per second (0: no limit), not nan"),
    ('[delivery]\nrate = inf', "[delivery].rate must be a finite number of messages per second (0: no limit), not inf"),
    ('[delivery]\nrate = -2', "[delivery].rate must be 0 or more messages per second (0: no limit), not -2"),
    ('[smtp]\ntimeout = 0', "[smtp].timeout must be more than 0 seconds, not 0"),
    ('[delivery]\nretry_initial_seconds = -60', "[delivery].retry_initial_seconds must be more than 0 seconds, not -60"),
    ('[delivery]\nretry_max_seconds = inf', "[delivery].retry_max_seconds must be a finite number of seconds, not inf"),
    ('[delivery]\nretry_deadline_hours = 0', "[delivery].retry_deadline_hours must be more than 0 hours, not 0"),
    ('[delivery]\nclaim_timeout_seconds = -1', "[delivery].claim_timeout_seconds must be more than 0 seconds, not -1"),
    ('[delivery]\nbatch_size = 1e20', "[delivery].batch_size must be an integer, not 1e+20"),
    ('[delivery]\nbatch_size = 100000000000000000000',
     "[delivery].batch_size must be from 1 to 10000, not 100000000000000000000"),
    ('[delivery]\nconnections = 1000', "[delivery].connections must be from 1 to 100, not 1000"),
    ('[web]\nsubscribe_limit_per_ip = 0', "[web].subscribe_limit_per_ip must be at least 1, not 0"),
    ('[bounces]\nsoft_window_days = -3', "[bounces].soft_window_days must be at least 1, not -3"),
    ('[web]\nbase_url = "http://exa mple.org"', "[web].base_url must be an http(s) URL, not 'http://exa mple.org'"),
    ('[web]\nbase_url = "https://admin:secret@imrap.example"',
     "[web].base_url must not hold a user name or password: 'https://admin:secret@imrap.example'"),
    ('[web]\nbase_url = "http://imrap.example:99999"',
     "[web].base_url is not a valid URL: 'http://imrap.example:99999' (Port out of range 0-65535)"),
    ('[organisation]\nwebsite = "ftp://imrap.example"',
     "[organisation].website must be an http(s) URL, not 'ftp://imrap.example'"),
    ('[organisation.social]\nfacebook = "javascript:alert(1)"',
     "[organisation.social].facebook must be an http(s) URL, not 'javascript:alert(1)'"),
    ('[smtp]\npassword_env = "MY PASSWORD"',
     "[smtp].password_env must name an environment variable (letters, digits, _), not 'MY PASSWORD'"),
    ('[dkim]\nselector = "bulletin"\ndomain = "imrap-mali.org"',  # the missing key: the section's line
     "[dkim].private_key_file must be set too: DKIM signs only with domain, selector and private_key_file"),
    ('[files]\nmode = "0777"', "[files].mode must be a file mode that lets the owner read and write, without execute "
                               "bits, like \"0600\" or \"0640\", not '0777'"),
    ('[files]\nmode = "0400"', "[files].mode must be a file mode that lets the owner read and write, without execute "
                               "bits, like \"0600\" or \"0640\", not '0400'"),
    ('[delivery]\noutbox = "afile"', "[delivery].outbox is a file, not a folder: {site}/afile"),
    ('[delivery]\noutbox = "afile/outbox"', "[delivery].outbox is under {site}/afile, which is a file: "
                                            "{site}/afile/outbox"),
    ('[database]\nurl = "sqlite:///afile/x.db"', "[database].url is under {site}/afile, which is a file: "
                                                 "{site}/afile/x.db"),
    ('[database]\nurl = "sqlite:///."', "[database].url is a folder, not a file: {site}"),
]


@pytest.mark.parametrize("body, message", CASES, ids=[c[1].split(" ")[0] + str(i) for i, c in enumerate(CASES)])
def test_a_wrong_value_is_one_line_naming_its_key_and_changes_nothing(site, body, message):
    config = site / "bad.toml"
    # The bad key is on the last line: the error names that line (a missing key: its section's header).
    text = '[database]\nurl = "sqlite:///bulletin.db"\n' * ("[database]" not in body) + body + "\n"
    config.write_text(text, encoding="utf-8")
    line = text.count("\n") if "must be set too" not in message else text.splitlines().index("[dkim]") + 1
    before = fingerprint(site)
    done = bulletin("--config", str(config), "lists", "add", "other", "--name", "Other", cwd=site)
    assert done.returncode == 1
    assert done.stderr == f"error: {config}:{line}: {message.replace('{site}', str(site))}\n"
    assert done.stdout == ""
    assert fingerprint(site) == before


def test_an_idn_base_url_is_converted_to_punycode(make_config):
    cfg = make_config('[web]\nbase_url = "http://bülletin.example/"\n[delivery]\n'
                      'from_address = "bulletin@bülletin.example"\n[organisation]\nwebsite = "https://Bülletin.example/à-propos"\n')
    assert cfg.web.base_url == "http://xn--blletin-n2a.example"
    assert cfg.delivery.from_address == "bulletin@xn--blletin-n2a.example"
    assert cfg.organisation.website == "https://xn--blletin-n2a.example/à-propos"


def test_a_test_send_with_an_idn_base_url_delivers(make_config, tmp_path, repo_root):
    """It used to make every delivery fail with 'internal error: UnicodeEncodeError' in List-Unsubscribe."""
    cfg = make_config(f'[web]\nbase_url = "https://bülletin.example"\n[delivery]\noutbox = "{tmp_path / "out"}"\n'
                      f'[database]\nurl = "sqlite:///{tmp_path / "b.db"}"\n')
    done = bulletin("--config", str(cfg.path), "send", str(repo_root / "issues" / "2023-07"), "--to",
                    "moi@imrap-mali.org", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    messages = list((tmp_path / "out" / "new").iterdir())
    assert messages and all(b"https://xn--blletin-n2a.example/" in m.read_bytes() for m in messages)


def test_the_defaults_and_the_example_file_pass(repo_root):
    config_mod.from_mapping({})
    config_mod.load(repo_root / "config.example.toml")


def test_keys_of_a_sub_table_and_quoted_keys_are_located(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('# comment\n[organisation]\nname = "x"\n\n[organisation.social]\n"facebook" = "https://f.example"\n'
                    'x = "mailto:a@b"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        config_mod.load(path)
    assert exc.value.line == 7
    assert str(exc.value.what) == "[organisation.social].x must be an http(s) URL, not 'mailto:a@b'"


def test_errors_are_in_the_terminal_s_language(site):
    config = site / "fr.toml"
    config.write_text('[database]\nurl = "sqlite:///bulletin.db"\n[delivery]\nrate = -2\n', encoding="utf-8")
    done = subprocess.run([*([str(BULLETIN)] if BULLETIN.exists() else [sys.executable, "-m", "bulletin"]),
                           "--config", str(config), "lists"], cwd=site, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "LANG": "fr_ML.UTF-8", "LANGUAGE": "", "LC_ALL": "", "LC_MESSAGES": ""})
    assert done.returncode == 1
    assert done.stderr == (f"error: {config}:4: [delivery].rate doit valoir 0 messages par seconde ou plus "
                           "(0 : pas de limite), et non -2\n")


def test_every_message_of_the_checks_is_in_both_catalogues():
    from bulletin import config_checks, i18n

    used = set(re.findall(r'"((?:config\.(?:check|unit|note))\.[a-z_]+)"', Path(config_checks.__file__).read_text()))
    assert len(used) > 25
    for language in ("en", "fr"):
        assert used <= i18n.keys(language), (language, used - i18n.keys(language))
