"""Each flow module's mermaid stateDiagram must draw exactly its spec's transition table."""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import UTC, datetime
from types import ModuleType

import pytest

import keepgate.flows
from keepgate.domain.policy import Policies
from keepgate.flows import login, settings, step_up
from keepgate.flows.base import Channel, Flow
from keepgate.flows.registry import SPECS
from keepgate.flows.spec import FlowSpec, Opening, Owner

FLOW_MODULES = [importlib.import_module(spec.start.__module__) for spec in SPECS.values()]
T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EDGE = re.compile(r"^\s*(?P<src>\S+)\s*-->\s*(?P<dst>\S+?)\s*(?::\s*(?P<label>.*?))?\s*$")


def spec_of(module: ModuleType) -> FlowSpec:
    spec: FlowSpec = module.SPEC
    return spec


def started(module: ModuleType) -> Flow:
    """A fresh flow from the spec's own ``start``: its state is where the diagram begins."""
    owner = Owner(account_id="a", session_id="s", account_name="jane@example.com",
                  factors=("totp",))
    return spec_of(module).start(Opening("f", Channel.API, T0, Policies(), owner=owner))


def test_every_flow_module_is_checked() -> None:
    """A new flow module with a spec or a table cannot slip past the diagram check."""
    with_table = set()
    for info in pkgutil.iter_modules(keepgate.flows.__path__):
        module = importlib.import_module(f"keepgate.flows.{info.name}")
        if hasattr(module, "TRANSITIONS") or hasattr(module, "SPEC"):
            with_table.add(module.__name__)
    assert with_table == {m.__name__ for m in FLOW_MODULES}
    assert {"keepgate.flows.registration", "keepgate.flows.login", "keepgate.flows.settings",
            "keepgate.flows.step_up"} <= with_table


def mermaid_block(module: ModuleType) -> str:
    doc = module.__doc__ or ""
    match = re.search(r"```mermaid\n(.*?)```", doc, re.DOTALL)
    assert match, f"{module.__name__} has no mermaid diagram in its docstring"
    block = match.group(1)
    assert "stateDiagram" in block
    return block


def diagram_edges(module: ModuleType) -> set[tuple[str, str, str]]:
    edges: set[tuple[str, str, str]] = set()
    for line in mermaid_block(module).splitlines():
        if "-->" not in line:
            continue
        match = EDGE.match(line)
        assert match, f"unparseable edge in {module.__name__}: {line!r}"
        src, dst, label = match["src"], match["dst"], match["label"]
        if "[*]" in (src, dst):
            continue
        assert label, f"edge without a method label in {module.__name__}: {line!r}"
        edges.add((src, label.strip(), dst))
    return edges


def table_edges(module: ModuleType) -> set[tuple[str, str, str]]:
    return {
        (src, method, dst)
        for src, methods in spec_of(module).transitions.items()
        for method, targets in methods.items()
        for dst in targets
    }


@pytest.mark.parametrize("module", FLOW_MODULES, ids=lambda m: m.__name__)
def test_diagram_edges_equal_transitions(module: ModuleType) -> None:
    drawn = diagram_edges(module)
    table = table_edges(module)
    assert drawn, "the diagram has no edges"
    assert drawn - table == set(), "drawn but not in TRANSITIONS"
    assert table - drawn == set(), "in TRANSITIONS but not drawn"


@pytest.mark.parametrize("module", FLOW_MODULES, ids=lambda m: m.__name__)
def test_diagram_start_and_end_states(module: ModuleType) -> None:
    starts, ends = set(), set()
    for line in mermaid_block(module).splitlines():
        match = EDGE.match(line)
        if not match:
            continue
        if match["src"] == "[*]":
            starts.add(match["dst"])
        if match["dst"] == "[*]":
            ends.add(match["src"])
    assert starts == {started(module).state}
    # Exactly the states with no way out end the diagram.
    terminal = {s for s, methods in spec_of(module).transitions.items() if not methods}
    assert ends == terminal


@pytest.mark.parametrize("module", FLOW_MODULES, ids=lambda m: m.__name__)
def test_every_state_is_drawn(module: ModuleType) -> None:
    drawn_states = {s for edge in diagram_edges(module) for s in (edge[0], edge[2])}
    assert drawn_states == set(spec_of(module).states)


def test_parser_sees_a_missing_edge() -> None:
    """The checker itself: a table with an extra edge must not equal the drawing."""
    drawn = diagram_edges(login)
    assert ("awaiting_credentials", "password", "completed") in drawn
    assert ("awaiting_credentials", "code", "completed") not in drawn


@pytest.mark.parametrize("module", FLOW_MODULES, ids=lambda m: m.__name__)
def test_table_targets_are_known_states(module: ModuleType) -> None:
    spec = spec_of(module)
    assert set(spec.transitions) == set(spec.states)
    for _, _, dst in table_edges(module):
        assert dst in spec.states


def test_parser_sees_a_missing_edge_in_every_new_flow() -> None:
    assert ("ready", "totp", "ready") in diagram_edges(settings)
    assert ("awaiting_second_factor", "webauthn", "completed") in diagram_edges(step_up)
    assert ("awaiting_second_factor", "password", "completed") not in diagram_edges(step_up)
