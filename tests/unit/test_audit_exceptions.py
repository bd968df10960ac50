"""scripts/audit.py: accepted advisories pass only with a reason and until they expire."""

from __future__ import annotations

import datetime
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit.py"
TODAY = datetime.date(2027, 1, 15)


def audit_module(exceptions: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.EXCEPTIONS = exceptions
    return module


def test_live_exceptions_become_ignores(tmp_path: Path) -> None:
    listed = tmp_path / "audit-exceptions.txt"
    listed.write_text("# comment\n\nGHSA-aaaa-bbbb-cccc 2027-03-31 not reachable from our code\n")
    assert audit_module(listed).accepted(TODAY) == ["GHSA-aaaa-bbbb-cccc"]


@pytest.mark.parametrize("line", ["GHSA-aaaa-bbbb-cccc 2027-01-14 expired yesterday",
                                  "GHSA-aaaa-bbbb-cccc 2027-03-31",
                                  "GHSA-aaaa-bbbb-cccc soon no date"])
def test_expired_or_unreasoned_exceptions_fail(tmp_path: Path, line: str) -> None:
    listed = tmp_path / "audit-exceptions.txt"
    listed.write_text(line + "\n")
    with pytest.raises(SystemExit) as stopped:
        audit_module(listed).accepted(TODAY)
    assert stopped.value.code


def test_an_audit_that_looked_nothing_up_fails() -> None:
    module = audit_module(Path("unused"))
    report = {"dependencies": [{"name": "x", "version": "1", "vulns": []},
                               {"name": "y", "skip_reason": "not found"}]}
    assert module.unaudited(report) == ["not found"]
