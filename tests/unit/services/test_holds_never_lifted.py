"""Nobody lifts a hold early, staff included: no port, repository or service can."""

from __future__ import annotations

import inspect
from pathlib import Path

import keepgate.services as services_package
from keepgate.adapters.sql.holds import SqlHolds
from keepgate.services.ports import HoldRepo


def _public(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def test_holds_can_only_be_placed_and_read() -> None:
    assert _public(HoldRepo) == {"create", "for_account"}
    assert _public(SqlHolds) == {"create", "for_account"}


def test_no_service_writes_to_holds_but_placing_them() -> None:
    root = Path(services_package.__file__).parent
    writers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if "holds.create" in p.read_text())
    assert writers == ["holds.py"]
