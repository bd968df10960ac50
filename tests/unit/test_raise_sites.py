"""Every public error takes its code from its class: no raise site passes ``code=``.

``NOT_YET_CONVERTED`` lists the files whose raise sites still pass one. Convert a file (each code
has its class in ``keepgate.domain.errors``) and take it off the list; with the list empty,
``KeepgateError.__init__`` loses its ``code`` parameter and ``keepgate.web.errors`` its
``_class_named`` lookup, and the last test here holds them to it.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import keepgate
from keepgate.domain import errors as E

PACKAGE_ROOT = Path(keepgate.__file__).resolve().parent
ERRORS_MODULE = "keepgate/domain/errors.py"
NOT_YET_CONVERTED: frozenset[str] = frozenset()
ERROR_CLASSES = frozenset(name for name, value in vars(E).items()
                          if isinstance(value, type) and issubclass(value, E.KeepgateError))


def sources() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        yield path.relative_to(PACKAGE_ROOT.parent).as_posix(), ast.parse(path.read_text())


def named(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def code_overrides(tree: ast.Module) -> list[int]:
    """Lines where an error class is called with ``code=``."""
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and named(node.func) in ERROR_CLASSES
            and any(keyword.arg == "code" for keyword in node.keywords)]


def test_no_raise_site_passes_a_code() -> None:
    found = [f"{path}:{line}" for path, tree in sources() if path not in NOT_YET_CONVERTED
             for line in code_overrides(tree)]
    assert not found, "raise the error class that has the code instead: " + ", ".join(found)


def test_the_files_not_yet_converted_still_need_it() -> None:
    overriding = {path for path, tree in sources() if code_overrides(tree)}
    assert overriding >= NOT_YET_CONVERTED, (
        f"converted, take off NOT_YET_CONVERTED: {sorted(NOT_YET_CONVERTED - overriding)}")


def test_every_error_class_is_in_the_tree() -> None:
    """A public error defined elsewhere would be missing from the drawing."""
    found = [f"{path}:{node.lineno} {node.name}" for path, tree in sources()
             if path != ERRORS_MODULE for node in ast.walk(tree)
             if isinstance(node, ast.ClassDef)
             and any(named(base) in ERROR_CLASSES for base in node.bases)]
    assert not found, f"define these in {ERRORS_MODULE}: {', '.join(found)}"


def test_the_code_parameter_lasts_as_long_as_the_list() -> None:
    accepts_code = "code" in inspect.signature(E.KeepgateError.__init__).parameters
    assert accepts_code == bool(NOT_YET_CONVERTED)
