#!/usr/bin/env bash
# The main job on the embedded defaults: SQLite (bulletin.db) and the maildir outbox (outbox/).
# Safe to run again: the list is created once, the import changes nothing the second time, and the
# issue is sent once (a second `bulletin send` of the same issue to the same list is refused).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/bulletin ] || { python3 -m venv .venv && .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e '.[test]'; }
B=.venv/bin/bulletin
$B build issues/2023-07
$B build issues/2022-08
$B lists | grep -q '^imrap ' || $B lists add imrap --name "IMRAP - Bulletin mensuel"
$B subscribers import subscribers/imrap-sample.csv --list imrap
if $B status --json | grep -q '"issue": "2023-07"'; then
  echo "2023-07 was sent to imrap already:"
else
  $B send issues/2023-07 --list imrap
fi
$B status
echo "Messages are in outbox/new/ (one .eml each); the HTML and text parts in build/."
