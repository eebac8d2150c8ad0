"""Import and export of large subscriber files on SQLite and PostgreSQL: seconds and peak memory.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--pg postgresql+psycopg://...]

Each measurement runs in a fresh subprocess so that its peak resident memory is its own. The baseline is reading
the same file with the csv module alone, so the ratio shows what validation and the database add. Memory must
not grow with the file: the 25% file and the full file should peak at about the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

from benchlib import reset_pg

FIRST = ["Awa", "Moussa", "Fanta", "Bakary", "Mariam", "Oumar", "Aïssata", "Ibrahim", "Kadiatou", "Hélène"]
LAST = ["Traoré", "Koné", "Diarra", "Coulibaly", "Dembélé", "Sangaré", "Maïga", "Touré", "Cissé", "Keïta"]
DOMAINS = ["example.org", "example.com", "mail.example.org", "example.net"]
CITIES = ["Bamako", "Ségou", "Mopti", "Sikasso", "Kayes", "Gao", "Tombouctou", "Kidal"]


def ascii_(name: str) -> str:
    return unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()


def make_file(path: Path, rows: int) -> None:
    """A French Excel export: Windows-1252, semicolons, CRLF, a few bad and duplicate rows."""
    with open(path, "w", encoding="cp1252", newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(["Nom", "Prénom", "Adresse e-mail", "Langue", "Ville", "Organisation"])
        for i in range(rows):
            # Addresses are ASCII but for a few (as in real lists): those take email-validator's full path.
            email = f"{ascii_(FIRST[i % 10])}.{ascii_(LAST[i % 7])}{i}@{DOMAINS[i % 4]}"
            if i % 101 == 0:
                email = f"{FIRST[i % 10].lower()}{i}@example.org"
            if i % 997 == 0:
                email = email.replace("@", "@@")  # rejected
            if i % 1009 == 0 and i:
                email = f"{FIRST[0].lower()}.{LAST[0].lower()}0@example.org".upper()  # duplicate of row 0
            w.writerow([LAST[i % 10], FIRST[i % 10], email, "fr" if i % 3 else "English", CITIES[i % 8],
                        "Association" if i % 5 == 0 else ""])


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent at exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, url: str, path: str) -> dict:
    """One measurement, in this process: import (into a fresh list), export, or the csv-only baseline."""
    if kind == "baseline":
        from bulletin.store.csvfile import SubscriberFile

        t, c = time.perf_counter(), time.process_time()
        n = 0
        with SubscriberFile(path) as f:
            for _ in f.rows():
                n += 1
        return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": n, "peak_mb": peak_mb()}
    from bulletin.store import db, queries
    from bulletin.services import consent
    from bulletin.store.importer import import_subscribers

    engine = db.engine_for(url)
    if kind == "import":
        with db.session_scope(engine) as s:
            ml = queries.create_list(s, "bench", "Bench")
        t, c = time.perf_counter(), time.process_time()
        with db.session_scope(engine) as s:
            report = import_subscribers(s, path, ml, languages=["fr", "en"], default_language="fr", rules=consent)
        return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": report.rows,
                "added": report.added,
                "rejected": len(report.rejected), "peak_mb": peak_mb()}
    from bulletin.store.exporter import export_subscribers

    t, c = time.perf_counter(), time.process_time()
    with db.session_scope(engine) as s, open(os.devnull, "wb") as out:
        n = export_subscribers(s, queries.get_list(s, "bench"), out)
    return {"seconds": time.perf_counter() - t, "cpu": time.process_time() - c, "rows": n, "peak_mb": peak_mb()}


def measure(kind: str, url: str, path: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, url, str(path)], capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout)


def reset(url: str, tmp: Path) -> str:
    if url.startswith("sqlite"):
        db_file = tmp / "bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_file}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{db_file}"
    reset_pg(url)
    return url


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(child(*sys.argv[2:5])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg", default=os.environ.get("BULLETIN_BENCH_PG_URL", ""),
                    help="PostgreSQL URL whose public schema may be dropped (default: $BULLETIN_BENCH_PG_URL)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sizes = [args.rows // 4, args.rows]
        files = {}
        for n in sizes:
            files[n] = tmp / f"subscribers-{n}.csv"
            make_file(files[n], n)
        backends = [("sqlite", "sqlite")] + ([("postgresql", args.pg)] if args.pg else [])
        print(f"load average before: {os.getloadavg()[0]:.1f} (the machine may be shared: CPU seconds are steadier)")
        print(f"{'what':<28}{'rows':>9}{'seconds':>9}{'cpu s':>7}{'rows/s':>10}{'peak MB':>9}{'x baseline':>12}")
        for n in sizes:
            base = measure("baseline", "", files[n])
            print(f"{'baseline: read the CSV':<28}{n:>9}{base['seconds']:>9.2f}{base['cpu']:>7.2f}"
                  f"{n / base['seconds']:>10.0f}"
                  f"{base['peak_mb']:>9.0f}{1:>12.1f}")
            for name, url in backends:
                url = reset(url, tmp)
                for kind in ("import", "export"):
                    r = measure(kind, url, files[n])
                    print(f"{kind + ' ' + name:<28}{r['rows']:>9}{r['seconds']:>9.2f}{r['cpu']:>7.2f}"
                          f"{r['rows'] / r['seconds']:>10.0f}"
                          f"{r['peak_mb']:>9.0f}{r['seconds'] / base['seconds']:>12.1f}")
        print(f"file size: {files[args.rows].stat().st_size / 1e6:.1f} MB; targets at {args.rows} rows: "
              "import under 10 s and 200 MB, peak memory flat between the two sizes")


if __name__ == "__main__":
    main()
