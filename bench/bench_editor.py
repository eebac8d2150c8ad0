"""What the issue editor costs: opening an issue as a form (check included), saving it, its preview, a photo from
a phone made into a file of images/; each printed as a ratio to rendering the issue once (`bulletin build`'s
work) in the same process, and the weight of the editor's page with its style sheet and script.

    .venv/bin/python bench/bench_editor.py [--issue issues/2023-07] [--repeat 20]

The issue is copied to a temporary folder (nothing in the repository is written). Opening a page runs `check`,
which renders every edition, so it costs about as much as a build plus reading the folder; a save reads the
folder, writes what changed and records the audit entry. The photo is a 12-megapixel JPEG and the same photo
as HEIC (what an iPhone sends), scaled to 1104 px.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bulletin import config as config_mod  # noqa: E402
from bulletin.content.form import FACTS, field_name, version_field  # noqa: E402
from bulletin.content.uploads import prepare  # noqa: E402
from bulletin.render.pipeline import render_issue  # noqa: E402
from bulletin.services import accounts, editor  # noqa: E402
from bulletin.services.audit import Actor  # noqa: E402
from bulletin.services.store import Store  # noqa: E402


def timed(fn, repeat: int) -> float:
    """The median seconds of `repeat` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def as_submitted(form) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ff in form.files():
        out[version_field(ff.rel)] = [ff.version]
        for key in ff.keys:
            if key == FACTS:
                out[field_name(ff.rel, FACTS)] = ["1"]
                out[field_name(ff.rel, "facts.label")] = [k for k, _ in ff.facts]
                out[field_name(ff.rel, "facts.value")] = [v for _, v in ff.facts]
            else:
                out[field_name(ff.rel, key)] = [ff.value(key)]
    return out


def photo(width: int, height: int, fmt: str, quality: int = 85) -> bytes:
    from PIL import Image

    across = Image.linear_gradient("L").rotate(90).resize((width, height))
    down = Image.linear_gradient("L").resize((width, height))
    img = Image.merge("RGB", (across, down, Image.effect_noise((width, height), 10)))
    out = io.BytesIO()
    img.save(out, fmt, quality=quality)
    return out.getvalue()


def page_weight(cfg, slug: str) -> tuple[int, int]:
    """(HTML bytes of the editor page, bytes of the style sheet and script as sent gzipped), over real HTTP."""
    import httpx

    from bulletin.web.app import create_app
    from bulletin.web.server import background, free_port

    store = Store.open(cfg)
    store.run(accounts.add_user, "bench@imrap-mali.org", "editor", "bench-password-0123", actor=Actor.cli(),
              now=dt.datetime.now(dt.timezone.utc))
    with background(create_app(cfg), free_port()) as url:
        with httpx.Client(base_url=url) as client:
            form = client.get("/admin/login")
            token = re.search(r'name="csrf" value="([^"]*)"', form.text).group(1)
            client.post("/admin/login", data={"csrf": token, "email": "bench@imrap-mali.org",
                                              "password": "bench-password-0123"})
            page = client.get(f"/admin/issues/{slug}")
            assets = sum(int(client.get(a, headers={"Accept-Encoding": "gzip"}).headers["content-length"])
                         for a in re.findall(r'(?:href|src)="(/admin/static/[^"]+)"', page.text))
            return len(page.content), assets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issue", type=Path, default=REPO / "issues" / "2023-07")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        slug = args.issue.resolve().name
        shutil.copytree(args.issue, root / "issues" / slug)
        (root / "bulletin.toml").write_text(f'[database]\nurl = "sqlite:///{root}/bench.db"\n'
                                            f'[web]\nissues_dir = "{root}/issues"\n', encoding="utf-8")
        cfg = config_mod.load(root / "bulletin.toml")
        store = Store.open(cfg)
        folder = root / "issues" / slug
        actor = Actor(None, "bench")
        now = dt.datetime.now(dt.timezone.utc)
        base = timed(lambda: render_issue(folder, cfg), args.repeat)
        print(f"baseline: rendering {slug} once (every edition): {base * 1000:.1f} ms")
        rows = []
        view = editor.open_issue(cfg, slug)
        rows.append(("open the editor (form, check, images)", timed(lambda: editor.open_issue(cfg, slug),
                                                                   args.repeat)))
        unchanged = as_submitted(view.form)
        rows.append(("save the form unchanged (writes nothing)",
                     timed(lambda: editor.save(store, cfg, slug, unchanged, actor=actor, now=now), args.repeat)))
        titles = iter(range(10**6))

        def save_one_change():
            form = editor.open_issue(cfg, slug).form
            sent = as_submitted(form)
            sent[field_name(form.toml.rel, "subject")] = [f"Objet {next(titles)}"]
            editor.save(store, cfg, slug, sent, actor=actor, now=now)

        rows.append(("open, change the subject, save (audit entry)", timed(save_one_change, args.repeat)))
        rows.append(("one edition's preview", timed(lambda: editor.preview(
            cfg, slug, view.form.primary, images_url="/i/", icons_url="/e/"), args.repeat)))
        from bulletin.content.uploads import HEIC

        jpeg = photo(4000, 3000, "JPEG")
        heic = photo(4000, 3000, "HEIF", quality=40) if HEIC else None  # the time is the 12 megapixels
        rows.append((f"a 12 MP JPEG photo ({len(jpeg) // 1000} KB) to images/",
                     timed(lambda: prepare(jpeg, "photo.jpg", 1104), max(3, args.repeat // 4))))
        if heic is not None:
            rows.append((f"the same photo as HEIC ({len(heic) // 1000} KB)",
                         timed(lambda: prepare(heic, "photo.heic", 1104), max(3, args.repeat // 4))))
        for name, seconds in rows:
            print(f"{name:48s} {seconds * 1000:8.1f} ms  {seconds / base:5.1f} x render")
        html, assets = page_weight(cfg, slug)
        print(f"editor page of {slug}: {html / 1000:.1f} KB of HTML + {assets / 1000:.1f} KB of style sheet and "
              f"script (gzipped, cached a year), before the preview frame")


if __name__ == "__main__":
    main()
