"""What a send now does before it mails anything, beside rendering alone: `check` (which renders every edition and
reads every image as readers get it), the fingerprint, and publishing the images under their hash; and what one
pass of the monthly schedule costs the worker (it runs every few seconds).

    .venv/bin/python bench/bench_publish.py [--repeat N]

Baseline: `render_issue` of the same issue in the same process (what `send` did before). Images are scaled
afresh in each run (the in-process cache is cleared), as in a `bulletin send` process. The database is SQLite in
a temporary folder: PostgreSQL adds a round trip per published file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulletin import config as config_mod  # noqa: E402
from bulletin.render import images  # noqa: E402
from bulletin.render.pipeline import render_issue  # noqa: E402


def timed(fn, repeat: int, *, cold: bool = True) -> float:
    runs = []
    for _ in range(repeat):
        if cold:
            images._scaled.cache_clear()
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    from bulletin.content.fingerprint import fingerprint
    from bulletin.render.publish import publish_editions
    from bulletin.services import issues, monthly
    from bulletin.services.store import Store

    issue = ROOT / "issues" / "2023-07"
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bulletin.toml").write_text(
            (ROOT / "config.example.toml").read_text(encoding="utf-8")
            .replace('url = "sqlite:///bulletin.db"', f'url = "sqlite:///{tmp}/bench.db"')
            .replace('day = ""', 'day = "first tuesday"').replace('list = ""', 'list = "news"')
            .replace('issues_dir = "issues"', f'issues_dir = "{ROOT / "issues"}"'), encoding="utf-8")
        cfg = config_mod.load(Path(tmp) / "bulletin.toml")
        store = Store.open(cfg)
        render_issue(issue, cfg)  # warm-up: imports, template compilation

        base = timed(lambda: render_issue(issue, cfg), args.repeat)
        report = issues.ready(cfg, issue)
        rows = [
            ("render every edition (baseline)", base),
            ("check (render + images as served)", timed(lambda: issues.ready(cfg, issue), args.repeat)),
            ("fingerprint (read and hash the files)", timed(lambda: fingerprint(issue, cfg), args.repeat)),
            ("publish: hash and rewrite, images cached", timed(lambda: publish_editions(report.issue, report.editions,
                                                                                         cfg), args.repeat,
                                                                cold=False)),
        ]

        def publish_to_store() -> None:
            with store.unit_of_work() as uow:
                issues.publish(uow, cfg, report)

        rows.append(("publish into the database, already there", timed(publish_to_store, args.repeat, cold=False)))
        # The monthly pass an idle worker makes every few seconds: this issue is the one of July 2023, approved,
        # so in its reminder window each pass reads and fingerprints the folder (the costliest idle pass).
        issues.approve(store, cfg, issue, by="bench")
        july = monthly.month(cfg, 2023, 7)
        window = (july.remind_at or july.send_at) + dt.timedelta(minutes=1)
        rows.append(("one monthly pass, reminder window", timed(lambda: monthly.tick(store, cfg, window),
                                                                 args.repeat, cold=False)))
        _published, files = publish_editions(report.issue, report.editions, cfg)

    print(f"issues/2023-07, median of {args.repeat} runs (ratio to rendering in the same process)")
    for name, t in rows:
        print(f"  {name:<45} {t * 1000:8.1f} ms  {t / base:5.2f}x")
    print(f"  published: {len(files)} files, {sum(len(f.data) for f in files):,} bytes stored once per content")


if __name__ == "__main__":
    main()
