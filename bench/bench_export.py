"""Export of a large list where a few people have very many attributes: seconds and bytes per ordinary row.

    .venv/bin/python bench/bench_export.py [--rows 200000] [--wide 50] [--attributes 10000] [--pg URL]

The baseline is the same list without the wide people, exported in the same process: the ratios show what the
wide people cost everyone else. Every attribute is a column (the most common first) and a row stops after its last
value, so they should cost only their own rows; a layout with every attribute in every row would add one
delimiter per attribute per row (printed for comparison, computed, not written).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from bulletin.store import db, queries  # noqa: E402
from bulletin.store.exporter import CsvFormat, export_subscribers  # noqa: E402
from bulletin.store.models import Subscriber, Subscription  # noqa: E402
from benchlib import reset_pg  # noqa: E402

CITIES = ["Bamako", "Ségou", "Mopti", "Sikasso", "Kayes", "Gao", "Tombouctou", "Kidal"]


def fill(engine, slug: str, rows: int, wide: int, attributes: int) -> None:
    with db.session_scope(engine) as s:
        ml_id = queries.create_list(s, slug, slug).id
    batch = 5000
    with engine.begin() as conn:
        for start in range(0, rows, batch):
            people = [{"email": f"{slug}{i}@example.org", "email_key": f"{slug}{i}@example.org", "name": f"Person {i}",
                       "language": "fr", "status": "active",
                       "attributes": {"ville": CITIES[i % len(CITIES)]} if i % 3 else {}}
                      for i in range(start, min(rows, start + batch))]
            ids = conn.execute(insert(Subscriber).returning(Subscriber.id), people).scalars().all()
            conn.execute(insert(Subscription), [{"subscriber_id": i, "list_id": ml_id, "status": "subscribed"}
                                                for i in ids])
        for w in range(wide):
            attrs = {f"field {a:05}": f"value {w}.{a}" for a in range(attributes)}
            sid = conn.execute(insert(Subscriber).returning(Subscriber.id), [{
                "email": f"{slug}-wide{w}@example.org", "email_key": f"{slug}-wide{w}@example.org", "name": "Wide",
                "language": "fr", "status": "active", "attributes": attrs}]).scalar_one()
            conn.execute(insert(Subscription), [{"subscriber_id": sid, "list_id": ml_id, "status": "subscribed"}])


def export(engine, slug: str) -> tuple[float, float, int, bytes]:
    out = io.BytesIO()
    t, c = time.perf_counter(), time.process_time()
    with db.session_scope(engine) as s:
        n = export_subscribers(s, queries.get_list(s, slug), out, fmt=CsvFormat(";"))
    return time.perf_counter() - t, time.process_time() - c, n, out.getvalue()


def ordinary_row_bytes(data: bytes) -> float:
    """Bytes per row of the people who are not wide (the header and the wide people's rows left out)."""
    rows = [line for line in data.split(b"\r\n")[1:] if line and b"-wide" not in line.split(b";")[0]]
    return sum(len(r) + 2 for r in rows) / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--wide", type=int, default=50)
    ap.add_argument("--attributes", type=int, default=10_000)
    ap.add_argument("--pg", default=os.environ.get("BULLETIN_BENCH_PG_URL", ""),
                    help="PostgreSQL URL whose public schema may be dropped (default: $BULLETIN_BENCH_PG_URL)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        urls = [("sqlite", f"sqlite:///{Path(d) / 'bench.db'}")]
        if args.pg:
            reset_pg(args.pg)
            urls.append(("postgresql", args.pg))
        print(f"load average before: {os.getloadavg()[0]:.1f} (the machine may be shared: CPU seconds are steadier)")
        print(f"{'what':<34}{'rows':>9}{'seconds':>9}{'cpu s':>7}{'MB':>9}{'bytes/row':>11}{'x baseline':>12}")
        for name, url in urls:
            engine = db.engine_for(url)
            fill(engine, "plain", args.rows, 0, 0)
            fill(engine, "mixed", args.rows, args.wide, args.attributes)
            base = export(engine, "plain")
            mixed = export(engine, "mixed")
            for label, (secs, cpu, n, data) in ((f"{name}: {args.rows} ordinary", base),
                                               (f"{name}: + {args.wide} x {args.attributes} attr.", mixed)):
                print(f"{label:<34}{n:>9}{secs:>9.2f}{cpu:>7.2f}{len(data) / 1e6:>9.1f}{len(data) / n:>11.0f}"
                      f"{cpu / base[1]:>12.2f}")
            every_row = args.rows * args.attributes  # one delimiter per attribute in every ordinary row
            print(f"{name}: an ordinary row takes {ordinary_row_bytes(mixed[3]):.1f} bytes beside the wide people "
                  f"({ordinary_row_bytes(base[3]):.1f} without them); every attribute in every row would add "
                  f"{every_row / 1e6:.0f} MB")
            db.dispose_all()


if __name__ == "__main__":
    main()
