"""Layering: the core (domain, flows, security) imports no framework and no outer layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import keepgate

PACKAGE_ROOT = Path(keepgate.__file__).resolve().parent

FRAMEWORKS = ("fastapi", "starlette", "sqlalchemy", "redis", "pydantic")
OUTER_LAYERS = ("keepgate.services", "keepgate.adapters", "keepgate.web", "keepgate.wiring",
                "keepgate.cli", "keepgate.config")
CORE_FORBIDDEN = (*FRAMEWORKS, *OUTER_LAYERS)
SERVICES_FORBIDDEN = (*FRAMEWORKS, "keepgate.adapters", "keepgate.web", "keepgate.wiring",
                      "keepgate.cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of_source(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every module named by an import anywhere in the source (also inside functions and
    ``if TYPE_CHECKING`` blocks), with relative imports resolved against ``module``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def imports_of(path: Path) -> set[str]:
    return imports_of_source(path.read_text(encoding="utf-8"), module_name(path),
                             path.name == "__init__.py")


def offending(imported: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {name for name in imported for bad in forbidden
            if name == bad or name.startswith(bad + ".")}


def modules_in(*packages: str) -> list[Path]:
    paths = [p for pkg in packages for p in sorted((PACKAGE_ROOT / pkg).rglob("*.py"))]
    assert paths, f"no modules found in {packages}"
    return paths


CORE = modules_in("domain", "flows", "security")
SERVICES = modules_in("services")


@pytest.mark.parametrize("path", CORE, ids=lambda p: module_name(p))
def test_core_imports_no_framework_or_outer_layer(path: Path) -> None:
    bad = offending(imports_of(path), CORE_FORBIDDEN)
    assert not bad, f"{module_name(path)} imports {sorted(bad)}"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: module_name(p))
def test_services_import_no_framework(path: Path) -> None:
    bad = offending(imports_of(path), SERVICES_FORBIDDEN)
    assert not bad, f"{module_name(path)} imports {sorted(bad)}"


def test_every_core_package_is_walked() -> None:
    names = {module_name(p) for p in CORE}
    for expected in ("keepgate.domain.identifiers", "keepgate.flows.registration",
                     "keepgate.flows.login", "keepgate.security.passwords"):
        assert expected in names


# The checker must actually catch violations, or the tests above prove nothing.


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import fastapi", "keepgate.domain.x", {"fastapi"}),
        ("import sqlalchemy.ext.asyncio as sa", "keepgate.domain.x", {"sqlalchemy.ext.asyncio"}),
        ("from starlette.requests import Request", "keepgate.flows.x", {"starlette.requests"}),
        ("from pydantic import BaseModel", "keepgate.domain.x", {"pydantic"}),
        ("def f():\n    import redis.asyncio\n", "keepgate.security.x", {"redis.asyncio"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from keepgate.web.app import create_app\n", "keepgate.flows.x",
         {"keepgate.web.app"}),
        ("from ..services import flows", "keepgate.flows.x", {"keepgate.services"}),
        ("from ..adapters.sql.store import SqlStore", "keepgate.domain.x",
         {"keepgate.adapters.sql.store"}),
        ("from keepgate import services", "keepgate.domain.x", {"keepgate.services"}),
        ("import importlib\nimportlib.import_module('fastapi')", "keepgate.domain.x",
         {"fastapi"}),
    ],
)
def test_checker_detects_violations(source: str, module: str, expected: set[str]) -> None:
    assert expected <= offending(imports_of_source(source, module), CORE_FORBIDDEN)


@pytest.mark.parametrize(
    "source",
    ["import dataclasses", "from keepgate.domain.errors import KeepgateError",
     "from .errors import InvalidPassword", "import fastapi_like_name", "import redistribute"],
)
def test_checker_allows_clean_imports(source: str) -> None:
    assert offending(imports_of_source(source, "keepgate.security.x"), CORE_FORBIDDEN) == set()
