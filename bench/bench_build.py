"""How long composing an issue takes, stage by stage, and what one recipient's copy costs afterwards.

    .venv/bin/python bench/bench_build.py [--repeat N] [--messages N]

Prints, for each sample issue: the whole build (load + every edition), each stage's share, the HTML size;
what each edition weighs for a reader (HTML plus the images it shows, as served) beside the weight of the
source images in the issue folder; then the per-message cost of filling the per-recipient placeholders, against a baseline of building the
same two strings with str.replace in the same process (target: under 100 µs per message).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulletin import config as config_mod  # noqa: E402
from bulletin.render.pipeline import STAGES, render_issue  # noqa: E402


def bench_build(slug: str, cfg, repeat: int) -> list:
    totals, stage_runs, editions = [], [], []
    render_issue(ROOT / "issues" / slug, cfg)  # warm-up: imports, Jinja template compilation
    for _ in range(repeat):
        timings: dict[str, float] = {}
        start = time.perf_counter()
        editions = render_issue(ROOT / "issues" / slug, cfg, timings=timings)
        totals.append(time.perf_counter() - start)
        stage_runs.append(timings)
    median = statistics.median(totals)
    print(f"\n{slug}: {len(editions)} edition(s), build {median * 1000:.0f} ms (median of {repeat})")
    for stage in STAGES:
        t = statistics.median(run.get(stage, 0.0) for run in stage_runs)
        print(f"  {stage:<7} {t * 1000:8.1f} ms  {t / median:6.1%}")
    for ed in editions:
        print(f"  {ed.language}: HTML {len(ed.html.encode()):,} bytes, text {len(ed.text.encode()):,} bytes")
    return editions


def bench_weight(slug: str, cfg) -> None:
    """What a reader downloads per edition, against the files the author put in images/."""
    from bulletin.content import load_issue
    from bulletin.render.assets import edition_assets
    from bulletin.render.pipeline import TEMPLATES_DIR, recipient_size, render_edition

    issue = load_issue(ROOT / "issues" / slug, cfg)
    print(f"\n{slug}: weight per edition (HTML as a recipient gets it + images as served)")
    for lang in issue.languages:
        edition = render_edition(issue, lang, cfg)
        assets = edition_assets(issue, lang, cfg, TEMPLATES_DIR)
        html = recipient_size(edition.html)
        served = sum(len(a.read()[0]) for a in assets)
        source = sum(a.source.stat().st_size for a in assets if a.kind == "image")
        icons = sum(len(a.read()[0]) for a in assets if a.kind == "icon")
        images = served - icons
        ratio = f"{images / source:.2f}" if source else "-"
        print(f"  {lang}: {html + served:>9,} bytes = HTML {html:,} + images {served:,} ({len(assets)} files: issue "
              f"images {images:,}, icons {icons:,}); source images {source:,} (served/source {ratio})")


def bench_command(slug: str) -> None:
    """The whole process as a user runs it: interpreter start, imports, build, files written."""
    exe = ROOT / ".venv" / "bin" / "bulletin"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "bulletin"]
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run([*cmd, "--config", str(ROOT / "config.example.toml"), "build", str(ROOT / "issues" / slug),
                        "--out", out], check=True, capture_output=True)
        print(f"\n`bulletin build issues/{slug}` (whole process): {(time.perf_counter() - start) * 1000:.0f} ms")


def bench_personalise(edition, messages: int) -> None:
    values = {"unsubscribe_url": "https://news.imrap-mali.org/unsubscribe/" + "x" * 86,
              "archive_url": "https://news.imrap-mali.org/archive/2023-07", "name": "Awa Traoré",
              "email": "awa@example.org"}
    edition.personalise(values)  # compile the split templates once, as delivery does
    start = time.perf_counter()
    for i in range(messages):
        values["name"] = f"Abonné {i}"
        edition.personalise(values)
    per_message = (time.perf_counter() - start) / messages

    # Baseline: the naive way, str.replace of every marker over both parts.
    start = time.perf_counter()
    for i in range(messages):
        h, t = edition.html, edition.text
        for key, value in values.items():
            h = h.replace(f"%%{key}%%", value)
            t = t.replace(f"%%{key}%%", value)
    baseline = (time.perf_counter() - start) / messages
    print(f"\npersonalise ({edition.slug}.{edition.language}, {messages:,} messages): "
          f"{per_message * 1e6:.1f} µs per message; str.replace baseline {baseline * 1e6:.1f} µs "
          f"(ratio {per_message / baseline:.2f}); target < 100 µs: {'met' if per_message < 100e-6 else 'MISSED'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--messages", type=int, default=20_000)
    args = ap.parse_args()
    cfg = config_mod.load(ROOT / "config.example.toml")
    built = {slug: bench_build(slug, cfg, args.repeat) for slug in ("2023-07", "2022-08")}
    for slug in built:
        bench_weight(slug, cfg)
    bench_command("2023-07")
    bench_personalise(built["2023-07"][0], args.messages)


if __name__ == "__main__":
    main()
