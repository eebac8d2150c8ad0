"""deliver/ asks the store for what it needs through its own contract (claims.DeliveryStore): its modules import
no store model and build no SQL. Read with `ast`, so that a new import is caught as soon as it is written.

sends.py, report.py and testsend.py still hold the use cases that move to the service layer (issue 9); they
are left out here until they do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bulletin.deliver

DELIVER = Path(bulletin.deliver.__file__).parent
MOVING = {"sends.py", "report.py", "testsend.py"}
SQL = {"select", "insert", "update", "delete", "text", "func", "and_", "or_"}


def _modules():
    return sorted(p for p in DELIVER.glob("*.py") if p.name not in MOVING)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_deliver_imports_no_store_model_and_builds_no_sql(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {(a.name, None) for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported |= {(node.module or "", a.name) for a in node.names}
    assert not [m for m, _ in imported if m.startswith("bulletin.store.models")]
    assert not [name for m, name in imported if m.startswith("sqlalchemy") and name in SQL]
    assert not [m for m, _ in imported if m in ("sqlalchemy.orm", "sqlalchemy.sql")]
