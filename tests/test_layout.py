"""The layers stay where the README's layout says they are, read from the imports of every module (`ast`):
adapters call the services, the core never calls the adapters, and nothing below the services decides for them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bulletin"

#: package -> imports it must not make (a prefix of the module name)
FORBIDDEN = {
    # Adapters: the command line and the web pages go through the services for anything stored or sent
    # (`bulletin serve` starts the web adapter; `bounces ingest` reads mailboxes with bounces.sources).
    "cli": ["sqlalchemy", "bulletin.store", "bulletin.deliver", "bulletin.bounces.ingest", "bulletin.bounces.policy"],
    "web": ["sqlalchemy", "bulletin.store", "bulletin.deliver", "bulletin.bounces", "bulletin.cli"],
    # The core never reaches up.
    "store": ["bulletin.services", "bulletin.web", "bulletin.cli", "bulletin.render", "bulletin.deliver",
              "bulletin.content", "bulletin.bounces"],
    "content": ["bulletin.render", "bulletin.deliver", "bulletin.store", "bulletin.services", "bulletin.web",
                "bulletin.cli", "sqlalchemy"],
    "render": ["bulletin.deliver", "bulletin.store", "bulletin.services", "bulletin.web", "bulletin.cli",
               "sqlalchemy"],
    "services": ["bulletin.web", "bulletin.cli"],
    "deliver": ["bulletin.services", "bulletin.web", "bulletin.cli"],
    "bounces": ["bulletin.services", "bulletin.web", "bulletin.cli"],
}
#: Modules every layer may use: they import nothing of Bulletin's layers.
SHARED = ["states.py", "errors.py", "i18n.py"]


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == "bulletin":
                found.update(f"bulletin.{a.name}" for a in node.names)
    return found


def _violations(package: str, forbidden: list[str]) -> list[str]:
    out = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for module in sorted(_imports(path)):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(PACKAGE.parent)} imports {module}")
    return out


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_it_may(package):
    assert _violations(package, FORBIDDEN[package]) == []


@pytest.mark.parametrize("name", SHARED)
def test_the_shared_modules_import_no_layer(name):
    layers = [f"bulletin.{p}" for p in FORBIDDEN] + ["sqlalchemy", "bulletin.config"]
    assert [m for m in _imports(PACKAGE / name) if any(m == f or m.startswith(f + ".") for f in layers)] == []


def test_the_rule_reader_sees_a_forbidden_import(tmp_path, monkeypatch):
    """The check itself can fail: a web module importing the store is reported."""
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "bad.py").write_text("from bulletin.store.models import Subscriber\nimport sqlalchemy\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path)
    assert _violations("web", FORBIDDEN["web"]) == [
        f"{tmp_path.name}/web/bad.py imports bulletin.store.models", f"{tmp_path.name}/web/bad.py imports sqlalchemy"
    ]
