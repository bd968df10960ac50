"""The two locks: the runtime one is exactly the service's share of the development one."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)((?:\s*\\\n\s+--hash=\S+)+)", re.M)


def pins(lock: str) -> dict[str, tuple[str, frozenset[str]]]:
    text = (ROOT / lock).read_text()
    return {name.lower(): (version, frozenset(re.findall(r"--hash=(\S+)", hashes)))
            for name, version, hashes in PIN.findall(text)}


def requirement_name(spec: str) -> str:
    return re.split(r"[\[<>=!~ ;]", spec, maxsplit=1)[0].lower()


def test_runtime_pins_are_the_development_pins() -> None:
    runtime, dev = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime, "no pins read from the runtime lock"
    assert {name: runtime[name] for name in runtime} == {name: dev[name] for name in runtime}


def test_runtime_lock_holds_every_dependency_and_no_development_tool() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = pins("requirements-runtime.lock")
    for spec in project["project"]["dependencies"]:
        assert requirement_name(spec) in runtime, spec
    for tool in ("pytest", "mypy", "ruff", "playwright", "pip-audit"):
        assert tool not in runtime
