"""keepgate.web.deps: routes receive typed dependencies; only ``deps`` (and the app factory,
which puts it there) touches the composition root."""

from __future__ import annotations

import ast
from pathlib import Path

import keepgate.web

WEB = Path(keepgate.web.__file__).resolve().parent
COMPOSITION = {"deps.py", "app.py"}


def _breaches(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "keepgate.wiring":
            found.append(f"{path.name}:{node.lineno} imports keepgate.wiring")
        if (isinstance(node, ast.Attribute) and node.attr == "state"
                and isinstance(node.value, ast.Attribute) and node.value.attr == "app"):
            found.append(f"{path.name}:{node.lineno} reads app.state")
    return found


def test_only_deps_reaches_the_composition_root() -> None:
    modules = [p for p in sorted(WEB.glob("*.py")) if p.name not in COMPOSITION]
    assert modules
    assert [breach for path in modules for breach in _breaches(path)] == []


def test_the_check_sees_a_breach(tmp_path: Path) -> None:
    module = tmp_path / "route.py"
    module.write_text("from keepgate.wiring import Keepgate\nkg = request.app.state.keepgate\n")
    assert _breaches(module) == ["route.py:1 imports keepgate.wiring", "route.py:2 reads app.state"]
