"""`bulletin build` and `bulletin check` as a user runs them: files written, errors as `error: FILE:LINE: ...`."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from bulletin.cli import main
from bulletin.render.pipeline import TEMPLATES_DIR
from compose_helpers import MINIMAL, REPO, jpeg_bytes, png_bytes, write_issue

EXAMPLE = str(REPO / "config.example.toml")


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["--config", EXAMPLE, *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_build_writes_each_edition_with_preview_links_and_images(tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, _ = run(capsys, "build", REPO / "issues" / "2023-07", "--out", out)
    assert rc == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["2023-07-images", "2023-07.en.html", "2023-07.en.txt", "2023-07.fr.html", "2023-07.fr.txt"]
    assert sorted(p.name for p in (out / "2023-07-images").iterdir()) == ["anbe-koungo-do.jpg", "directeur.png", "icons"]
    # the social icons the footer shows, beside the page like the issue's images
    assert sorted(p.name for p in (out / "2023-07-images" / "icons").iterdir()) == [
        "facebook.png", "linkedin.png", "twitter.png", "youtube.png"]
    html = (out / "2023-07.fr.html").read_text(encoding="utf-8")
    text = (out / "2023-07.fr.txt").read_text(encoding="utf-8")
    # What a reader sees in a browser: no markers, harmless links, images beside the page.
    assert "%%" not in html and "%%" not in text
    assert 'href="http://localhost:8000/unsubscribe/preview"' in html
    assert "http://localhost:8000/unsubscribe/preview" in text
    assert 'src="2023-07-images/anbe-koungo-do.jpg"' in html
    assert 'src="2023-07-images/icons/facebook.png"' in html and "mailjet" not in html
    assert str(out / "2023-07.fr.html") in stdout


def test_build_replaces_previous_output(tmp_path, capsys):
    out = tmp_path / "out"
    issue = write_issue(tmp_path, MINIMAL)
    assert run(capsys, "build", issue, "--out", out)[0] == 0
    (issue / "news" / "01-bamako.md").write_text("---\ntitle: Titre corrigé\n---\nTexte.\n", encoding="utf-8")
    assert run(capsys, "build", issue, "--out", out)[0] == 0
    assert "Titre corrigé" in (out / "2024-01.fr.html").read_text(encoding="utf-8")


def _broken_template(tmp_path):
    tdir = tmp_path / "templates"
    shutil.copytree(TEMPLATES_DIR, tdir)
    news = tdir / "partials" / "news.mjml.j2"
    news.write_text(news.read_text().replace("{{ block.title }}", "{{ block.title | nosuchfilter }}"))
    return tdir, news


BAD_FOLDERS = {
    "missing issue.toml": ({k: v for k, v in MINIMAL.items() if k != "issue.toml"}, r"issue\.toml: missing issue\.toml"),
    "invalid TOML": ({**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + "[en\n"}, r"issue\.toml:4: invalid TOML"),
    "broken YAML": ({**MINIMAL, "news/01-bamako.md": "---\ntitle: ok\nplace: 'Bamako\n---\nTexte\n"},
                    r"01-bamako\.md:\d+: invalid YAML front matter"),
    "no title": ({**MINIMAL, "news/01-bamako.md": "---\nplace: Bamako\n---\nTexte\n"},
                 r"01-bamako\.md:1: missing required front matter 'title'"),
    "missing image": ({**MINIMAL, "news/01-bamako.md": "---\ntitle: x\nimage: images/nulle.jpg\nimage_alt: a\n---\nT\n"},
                      r"01-bamako\.md:3: image 'images/nulle\.jpg' not found"),
}


@pytest.mark.parametrize("case", list(BAD_FOLDERS))
def test_bad_issue_folders_give_a_located_error_and_write_nothing(tmp_path, capsys, case):
    files, pattern = BAD_FOLDERS[case]
    issue = write_issue(tmp_path, files)
    out = tmp_path / "out"
    rc, stdout, stderr = run(capsys, "build", issue, "--out", out)
    assert rc == 1
    assert re.match(r"^error: \S+" + pattern, stderr), stderr
    assert "Traceback" not in stderr and stdout == ""
    assert not out.exists()
    # check reports the same problem, with its severity
    rc, stdout, _ = run(capsys, "check", issue)
    assert rc == 1 and re.search(pattern.replace(": ", ": error: ", 1), stdout), stdout


def test_template_error_names_template_and_line(tmp_path, capsys):
    tdir, news = _broken_template(tmp_path)
    line = next(i for i, ln in enumerate(news.read_text().splitlines(), start=1) if "nosuchfilter" in ln)
    out = tmp_path / "out"
    rc, _, stderr = run(capsys, "build", write_issue(tmp_path, MINIMAL), "--out", out, "--templates", tdir)
    assert rc == 1 and stderr.startswith(f"error: {news}:{line}: template error") and not out.exists()


def test_a_failing_edition_writes_no_edition(tmp_path, capsys):
    files = {**MINIMAL, "issue.toml": MINIMAL["issue.toml"] + '[en]\nsubject = "Test"\npreheader = "Summary"\n',
             "news/01-bamako.en.md": "---\ntitle: Fine\nimage: images/none.png\nimage_alt: x\n---\nText\n"}
    out = tmp_path / "out"
    rc, _, stderr = run(capsys, "build", write_issue(tmp_path, files), "--out", out)
    assert rc == 1 and "01-bamako.en.md:3" in stderr and not out.exists()


def test_the_console_script_prints_no_traceback(tmp_path):
    bulletin = REPO / ".venv" / "bin" / "bulletin"
    cmd = [str(bulletin)] if bulletin.exists() else [sys.executable, "-m", "bulletin"]
    proc = subprocess.run([*cmd, "build", str(tmp_path / "nothing-here")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize("slug", ["2023-07", "2022-08"])
def test_check_passes_on_the_samples(capsys, slug):
    rc, stdout, _ = run(capsys, "check", REPO / "issues" / slug)
    assert rc == 0 and stdout.splitlines()[-1] == f"ok: {REPO / 'issues' / slug}", stdout


def test_check_lists_every_problem_with_file_and_line(tmp_path, capsys):
    files = {
        "issue.toml": 'subject = "S"\npreheader = "' + "p" * 160 + '"\ndate = 2024-01-31\n',
        "news/01-a.md": "---\ntitle: A\nimage: images/a.png\n---\nVoir [ici](htp:/imrap).\n\n![](../images/a.png)\n",
        "news/02-b.md": "---\ntitle: B\n---\n\n",
        "images/a.png": png_bytes(30, 30),
    }
    rc, stdout, stderr = run(capsys, "check", write_issue(tmp_path, files))
    assert rc == 1
    lines = stdout.splitlines()
    expected = [r"issue\.toml:2: warning: preheader is 160 characters",
                r"01-a\.md:3: error: image 'images/a\.png' has no alt text",
                r"01-a\.md:5: error: malformed link 'htp:/imrap'",
                r"01-a\.md:7: error: image '\.\./images/a\.png' has no alt text",
                r"02-b\.md:\d: warning: this news block has a title but no text"]
    for pattern in expected:
        assert len([ln for ln in lines if re.search(pattern, ln)]) == 1, (pattern, lines)  # each once
    assert stderr.strip().endswith(": 3 error(s), 2 warning(s)")


def test_check_warns_when_an_edition_passes_max_edition_kb(tmp_path, capsys):
    # one photo in front matter, one in a Markdown body: each alone is under the limit, together over it
    files = {**MINIMAL, "news/02-photo.md": "---\ntitle: P0\nimage: images/p0.jpg\nimage_alt: photo 0\n---\nT\n",
             "news/03-photo.md": "---\ntitle: P1\n---\n![photo 1](../images/p1.jpg)\n"}
    for i in range(2):
        files[f"images/p{i}.jpg"] = jpeg_bytes(3000, 2000)
    issue = write_issue(tmp_path, files)
    config = tmp_path / "bulletin.toml"
    config.write_text("[compose]\nmax_edition_kb = 150\n", encoding="utf-8")
    rc, stdout, _stderr = (main(["--config", str(config), "check", str(issue)]), *capsys.readouterr())
    assert rc == 0  # a warning: the issue may still go
    heavy = [ln for ln in stdout.splitlines() if "over [compose].max_edition_kb = 150" in ln]
    assert len(heavy) == 1 and heavy[0].startswith(f"{issue}: warning: the fr edition weighs"), stdout
    weight = next(ln for ln in stdout.splitlines() if ln.startswith("fr edition: "))
    assert re.match(r"fr edition: \d+ KB \(\d+ KB HTML \+ \d+ KB in 2 images\)$", weight), weight
    config.write_text("[compose]\nmax_edition_kb = 1000\n", encoding="utf-8")
    main(["--config", str(config), "check", str(issue)])
    assert "max_edition_kb" not in capsys.readouterr().out


def test_check_fails_an_email_that_gmail_would_clip(tmp_path, capsys):
    big_body = "\n\n".join(f"Paragraphe {i} : " + "texte " * 150 for i in range(120))
    files = {**MINIMAL, "news/01-bamako.md": "---\ntitle: Long\n---\n" + big_body + "\n"}
    rc, stdout, _ = run(capsys, "check", write_issue(tmp_path, files))
    assert rc == 1
    clipped = [ln for ln in stdout.splitlines() if "Gmail clips" in ln]
    assert len(clipped) == 1 and ": error: the fr edition's HTML is " in clipped[0]


def test_check_passes_on_a_clean_folder_with_a_director_photo(tmp_path, capsys):
    files = {**MINIMAL, "director.md": "---\nname: Awa\nrole: Directrice\nphoto: images/awa.png\nphoto_alt: Awa\n---\nBonjour.\n",
             "images/awa.png": png_bytes(600, 600)}
    rc, stdout, _ = run(capsys, "check", write_issue(tmp_path, files))
    assert rc == 0, stdout
