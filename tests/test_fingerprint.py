"""An issue's fingerprint covers exactly the files the build reads, in the documented `sha256sum` format: the
same files give the same digest wherever the folder is; an edit to any of them changes it; other files do not."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from bulletin.config import Config
from bulletin.content.fingerprint import fingerprint
from bulletin.errors import ContentError
from compose_helpers import copy_sample, png_bytes

SAMPLE_FILES = ("director.en.md", "director.md", "highlights.en.md", "highlights.md", "images/anbe-koungo-do.jpg",
                "images/directeur.png", "issue.toml", "news/01-bamako.en.md", "news/01-bamako.md",
                "news/02-mopti.en.md", "news/02-mopti.md")


def test_the_sample_is_fingerprinted_as_sha256sum_would(tmp_path):
    """The digest is what `sha256sum FILES | LC_ALL=C sort -k2 | sha256sum` prints, built here from the bytes."""
    issue = copy_sample(tmp_path, "2023-07")
    fp = fingerprint(issue, Config())
    assert fp.files == SAMPLE_FILES
    lines = "".join(f"{hashlib.sha256((issue / f).read_bytes()).hexdigest()}  {f}\n" for f in SAMPLE_FILES)
    assert fp.digest == hashlib.sha256(lines.encode()).hexdigest()
    assert fp.short == fp.digest[:12]


def test_a_copy_elsewhere_or_new_file_times_keep_it(tmp_path):
    issue = copy_sample(tmp_path / "a", "2023-07")
    before = fingerprint(issue, Config())
    moved = tmp_path / "b" / "issues" / "2023-07"
    shutil.copytree(issue, moved)
    for path in moved.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    assert fingerprint(moved, Config()) == before


@pytest.mark.parametrize("change", [
    lambda d: (d / "news/02-mopti.md").write_text((d / "news/02-mopti.md").read_text() + "Une phrase de plus.\n"),
    lambda d: (d / "news/02-mopti.en.md").write_text((d / "news/02-mopti.en.md").read_text().replace("Mopti", "Gao")),
    lambda d: (d / "issue.toml").write_text((d / "issue.toml").read_text().replace("juillet 2023", "août 2023")),
    lambda d: (d / "images/directeur.png").write_bytes(png_bytes(300, 300)),
    lambda d: (d / "news/03-gao.md").write_text("---\ntitle: Gao\n---\nUn bloc de plus.\n"),
    lambda d: (d / "highlights.en.md").unlink(),
], ids=["text", "translation", "subject", "image replaced", "block added", "translation removed"])
def test_an_edit_to_any_file_the_build_reads_changes_it(tmp_path, change):
    issue = copy_sample(tmp_path, "2023-07")
    before = fingerprint(issue, Config())
    change(issue)
    assert fingerprint(issue, Config()).digest != before.digest


def test_files_the_build_does_not_read_do_not_count(tmp_path):
    issue = copy_sample(tmp_path, "2023-07")
    before = fingerprint(issue, Config())
    (issue / "notes.txt").write_text("à relire avec le directeur\n")
    (issue / "images" / "unused.png").write_bytes(png_bytes(10, 10))
    (issue / "director.de.md").write_text("---\nname: Direktor\n---\n")  # not a configured language
    assert fingerprint(issue, Config()) == before


def test_no_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ContentError, match="issue folder not found") as e:
        fingerprint(tmp_path / "2026-13", Config())
    assert e.value.where == str(tmp_path / "2026-13")
