"""Layering, as the architecture guide draws it, checked by walking every import in the package.

Dependencies point one way: ``web -> services -> flows -> domain``, with ``security`` used by
flows and services and ``adapters`` implementing the ports ``services`` declares. So:

- ``domain`` imports only ``domain``; ``security`` adds ``domain``; ``flows`` adds ``security``;
  ``services`` adds ``flows``. None of them imports a web framework or an infrastructure library.
- ``adapters`` may use infrastructure libraries and everything below ``services``, never ``web``.
- ``web`` is the only place that knows HTTP; it never imports ``adapters`` or an infrastructure
  library (it reaches them through the composition root, ``wiring``).
- Infrastructure libraries live in ``adapters``, ``migrations`` and the composition root
  (``wiring``, ``cli``, the package root), nowhere else.

Imports are read with ``ast``: plain and ``from`` imports, relative ones resolved against the
module, imports inside functions and ``if TYPE_CHECKING`` blocks, and ``importlib.import_module``
with a literal name. Each breach is reported as ``path:line``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import keepgate

PACKAGE_ROOT = Path(keepgate.__file__).resolve().parent

WEB_FRAMEWORKS = frozenset({"fastapi", "starlette", "pydantic"})
INFRASTRUCTURE = frozenset({
    "sqlalchemy", "alembic", "asyncpg", "aiosqlite", "redis", "limits", "aiosmtplib", "httpx",
    "maxminddb", "uvicorn", "prometheus_client",
})


@dataclass(frozen=True)
class Rule:
    """What one layer may import: the keepgate layers it may use, the libraries it may not."""

    may_use: frozenset[str]
    forbidden_libraries: frozenset[str]


def _rule(*may_use: str, forbidden: frozenset[str]) -> Rule:
    return Rule(frozenset(may_use), forbidden)


# Layers without a rule (``wiring``, ``cli``, the package root) are the composition root: they
# assemble everything and may import anything.
COMPOSITION_ROOT = frozenset({"wiring", "cli", "keepgate"})
RULES: dict[str, Rule] = {
    "domain": _rule("domain", forbidden=WEB_FRAMEWORKS | INFRASTRUCTURE),
    "security": _rule("domain", "security", forbidden=WEB_FRAMEWORKS | INFRASTRUCTURE),
    "flows": _rule("domain", "security", "flows", forbidden=WEB_FRAMEWORKS | INFRASTRUCTURE),
    "services": _rule("domain", "security", "flows", "services",
                      forbidden=WEB_FRAMEWORKS | INFRASTRUCTURE),
    "adapters": _rule("domain", "security", "flows", "services", "adapters",
                      forbidden=WEB_FRAMEWORKS),
    "migrations": _rule("adapters", "config", "migrations", forbidden=WEB_FRAMEWORKS),
    "config": _rule("domain", "security", "config", forbidden=WEB_FRAMEWORKS | INFRASTRUCTURE),
    "web": _rule("keepgate", "domain", "security", "flows", "services", "config", "wiring", "web",
                 forbidden=INFRASTRUCTURE),
}
LAYERS = frozenset(RULES) | COMPOSITION_ROOT

# Breaches tolerated for now, each named by module and what it imports (none today). An entry
# goes when its module is fixed: test_allowed_breaches_still_exist fails once an entry is no
# longer needed, so the list can only shrink.
ALLOWED_BREACHES: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Breach:
    """One import a layer may not make: where it is and what it names."""

    path: str
    line: int
    module: str
    imported: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.module} imports {self.imported}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> str:
    """The keepgate layer a module belongs to (``keepgate`` for the package root itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "keepgate"


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = ".".join(package[: len(package) - (node.level - 1)])
    return f"{base}.{node.module}" if node.module else base


def _import_module_target(node: ast.AST) -> str | None:
    """The literal name in ``importlib.import_module("name")``, if ``node`` is that call."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    argument = node.args[0]
    if called == "import_module" and isinstance(argument, ast.Constant):
        return str(argument.value)
    return None


def imports_of_source(source: str, module: str,
                      is_package: bool = False) -> Iterator[tuple[int, str]]:
    """Each ``(line, name)`` an import in the source names, also inside functions and
    ``if TYPE_CHECKING`` blocks, with relative imports resolved against ``module``. A ``from``
    import yields its module and each ``module.name`` (``from keepgate import services``)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            target = _absolute(node, module, is_package)
            yield node.lineno, target
            for alias in node.names:
                yield node.lineno, f"{target}.{alias.name}"
        elif (dynamic := _import_module_target(node)) is not None:
            yield node.lineno, dynamic


def _breached(imported: str, rule: Rule) -> str | None:
    """What ``imported`` breaks of ``rule``: the library or ``keepgate.<layer>``, or None."""
    top = imported.split(".")[0]
    if top != "keepgate":
        return top if top in rule.forbidden_libraries else None
    layer = layer_of(imported)
    if layer in rule.may_use:
        return None
    return "keepgate" if layer == "keepgate" else f"keepgate.{layer}"


def breaches_in_source(source: str, module: str, path: str = "<source>",
                       is_package: bool = False) -> list[Breach]:
    """Every import in ``source`` that the rule of ``module``'s layer forbids, once per line."""
    rule = RULES.get(layer_of(module))
    if rule is None:
        return []
    found: dict[tuple[int, str], Breach] = {}
    for line, imported in imports_of_source(source, module, is_package):
        what = _breached(imported, rule)
        if what is not None:
            found.setdefault((line, what), Breach(path, line, module, what))
    return sorted(found.values(), key=lambda breach: (breach.line, breach.imported))


def breaches_in(path: Path) -> list[Breach]:
    return breaches_in_source(path.read_text(encoding="utf-8"), module_name(path),
                              str(path.relative_to(PACKAGE_ROOT.parent)),
                              path.name == "__init__.py")


MODULES = sorted(PACKAGE_ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_module_keeps_to_its_layer(path: Path) -> None:
    breaches = [breach for breach in breaches_in(path)
                if (breach.module, breach.imported) not in ALLOWED_BREACHES]
    assert not breaches, "\n".join(map(str, breaches))


def test_allowed_breaches_still_exist() -> None:
    """An entry whose module was fixed must leave the allow-list."""
    present = {(breach.module, breach.imported) for path in MODULES
               for breach in breaches_in(path)}
    assert ALLOWED_BREACHES - present == set()


def test_every_module_belongs_to_a_layer() -> None:
    for path in MODULES:
        module = module_name(path)
        assert module in ("keepgate", "keepgate.__main__") or layer_of(module) != "keepgate", (
            f"{module} is in no layer: give it a rule in RULES")


def test_every_core_package_is_walked() -> None:
    names = {module_name(p) for p in MODULES}
    for expected in ("keepgate.domain.identifiers", "keepgate.flows.registration",
                     "keepgate.flows.login", "keepgate.security.passwords",
                     "keepgate.services.flows", "keepgate.adapters.sql.store", "keepgate.web.api"):
        assert expected in names


# The checker must actually catch breaches, or the tests above prove nothing.


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("import fastapi", "keepgate.domain.x", "fastapi"),
        ("import sqlalchemy.ext.asyncio as sa", "keepgate.domain.x", "sqlalchemy"),
        ("from starlette.requests import Request", "keepgate.flows.x", "starlette"),
        ("from pydantic import BaseModel", "keepgate.domain.x", "pydantic"),
        ("def f():\n    import redis.asyncio\n", "keepgate.security.x", "redis"),
        ("import limits", "keepgate.flows.x", "limits"),
        ("import aiosmtplib", "keepgate.security.x", "aiosmtplib"),
        ("import httpx", "keepgate.domain.x", "httpx"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
         "    from keepgate.web.app import create_app\n", "keepgate.flows.x", "keepgate.web"),
        ("from ..services import flows", "keepgate.flows.x", "keepgate.services"),
        ("from .. import services", "keepgate.flows.x", "keepgate.services"),
        ("from ..adapters.sql.store import SqlStore", "keepgate.domain.x", "keepgate.adapters"),
        ("from keepgate import services", "keepgate.domain.x", "keepgate.services"),
        ("from keepgate.flows import login", "keepgate.domain.x", "keepgate.flows"),
        ("from keepgate.flows import login", "keepgate.security.x", "keepgate.flows"),
        ("from keepgate.services.ports import Store", "keepgate.flows.x", "keepgate.services"),
        ("import importlib\nimportlib.import_module('fastapi')", "keepgate.domain.x", "fastapi"),
        ("import httpx", "keepgate.services.x", "httpx"),
        ("from limits.aio.storage import RedisStorage", "keepgate.services.x", "limits"),
        ("import maxminddb", "keepgate.services.x", "maxminddb"),
        ("import asyncpg", "keepgate.services.x", "asyncpg"),
        ("import aiosqlite", "keepgate.services.x", "aiosqlite"),
        ("from fastapi import Request", "keepgate.services.x", "fastapi"),
        ("from keepgate.adapters.sql.store import SqlStore", "keepgate.services.x",
         "keepgate.adapters"),
        ("from keepgate.web import errors", "keepgate.services.x", "keepgate.web"),
        ("from keepgate.config import Settings", "keepgate.services.x", "keepgate.config"),
        ("from keepgate.wiring import Keepgate", "keepgate.services.x", "keepgate.wiring"),
        ("from keepgate.adapters.smtp import SmtpMailer", "keepgate.web.x", "keepgate.adapters"),
        ("from ..adapters import smtp", "keepgate.web.api", "keepgate.adapters"),
        ("import sqlalchemy", "keepgate.web.x", "sqlalchemy"),
        ("import redis", "keepgate.config", "redis"),
        ("from fastapi import APIRouter", "keepgate.adapters.x", "fastapi"),
        ("from keepgate.web.app import create_app", "keepgate.adapters.sql.x", "keepgate.web"),
    ],
)
def test_checker_reports_breach(source: str, module: str, expected: str) -> None:
    assert expected in {breach.imported for breach in breaches_in_source(source, module)}


def test_checker_reports_path_and_line() -> None:
    source = '"""A synthetic domain module."""\n\nimport dataclasses\nimport sqlalchemy\n'
    [breach] = breaches_in_source(source, "keepgate.domain.fake", "keepgate/domain/fake.py")
    assert str(breach) == "keepgate/domain/fake.py:4: keepgate.domain.fake imports sqlalchemy"


def test_checker_resolves_relative_imports_in_a_package() -> None:
    [breach] = breaches_in_source("from ...web import app", "keepgate.services.sub",
                                  is_package=True)
    assert breach.imported == "keepgate.web"


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("import dataclasses", "keepgate.security.x"),
        ("from keepgate.domain.errors import KeepgateError", "keepgate.security.x"),
        ("from .errors import InvalidPassword", "keepgate.security.x"),
        ("import fastapi_like_name", "keepgate.domain.x"),
        ("import redistribute", "keepgate.domain.x"),
        ("from keepgate.security.codes import CodeDigester", "keepgate.flows.x"),
        ("from keepgate.flows import login", "keepgate.services.x"),
        ("from keepgate.services.ports import Store", "keepgate.adapters.sql.store"),
        ("import sqlalchemy", "keepgate.adapters.sql.store"),
        ("import httpx", "keepgate.adapters.sms"),
        ("from keepgate.wiring import Keepgate", "keepgate.web.api"),
        ("from fastapi import APIRouter", "keepgate.web.api"),
        ("from keepgate.adapters.sql.store import SqlStore", "keepgate.wiring"),
        ("import redis", "keepgate.wiring"),
        ("import alembic", "keepgate.cli"),
        ("import sqlalchemy", "keepgate.migrations.env"),
    ],
)
def test_checker_allows_clean_imports(source: str, module: str) -> None:
    assert breaches_in_source(source, module) == []
