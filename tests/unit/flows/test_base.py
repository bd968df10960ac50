"""keepgate.flows.base: the flow record and helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keepgate.flows.base import (
    COMPLETED,
    FAILED,
    Channel,
    Flow,
    FlowKind,
    from_iso,
    iso,
    open_methods,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def make(state: str = "awaiting_credentials") -> Flow:
    return Flow(id="f", kind=FlowKind.LOGIN, channel=Channel.API, state=state, created_at=T0,
                expires_at=T0 + timedelta(minutes=15))


def test_expiry_boundary() -> None:
    flow = make()
    assert not flow.is_expired(T0)
    assert not flow.is_expired(flow.expires_at - timedelta(microseconds=1))
    assert flow.is_expired(flow.expires_at)
    assert flow.is_expired(flow.expires_at + timedelta(days=1))


@pytest.mark.parametrize(("state", "finished"), [("awaiting_credentials", False),
                                                 ("awaiting_code", False),
                                                 (COMPLETED, True), (FAILED, True)])
def test_finished(state: str, finished: bool) -> None:
    assert make(state).finished is finished


def test_evolve_and_with_context_do_not_mutate() -> None:
    flow = make().with_context(a=1)
    changed = flow.evolve(state=COMPLETED).with_context(b=2)
    assert flow.state == "awaiting_credentials"
    assert dict(flow.context) == {"a": 1}
    assert dict(changed.context) == {"a": 1, "b": 2}
    assert changed.id == flow.id
    with pytest.raises(AttributeError):
        flow.state = "x"  # type: ignore[misc]


def test_with_context_overrides_keys() -> None:
    assert dict(make().with_context(a=1).with_context(a=2).context) == {"a": 2}


def test_open_methods() -> None:
    transitions = {"s": {"password": frozenset({"t"}), "code": frozenset({"s"})}, "t": {}}
    assert open_methods(transitions, "s") == ("password", "code")
    assert open_methods(transitions, "t") == ()
    assert open_methods(transitions, "unknown") == ()


def test_iso_round_trip_keeps_timezone() -> None:
    moment = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert from_iso(iso(moment)) == moment
    assert from_iso(iso(moment)).tzinfo is not None
