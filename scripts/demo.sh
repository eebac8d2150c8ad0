#!/usr/bin/env bash
# The main job on the embedded defaults: SQLite (bulletin.db) and the maildir outbox (outbox/).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/bulletin ] || { python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test]'; }
B=.venv/bin/bulletin
$B build issues/2023-07
$B build issues/2022-08
$B lists | grep -q '^imrap ' || $B lists add imrap --name "IMRAP - Bulletin mensuel"
$B subscribers import subscribers/imrap-sample.csv --list imrap
$B send issues/2023-07 --list imrap
$B status
echo "Messages written to outbox/; HTML and text parts in build/."
