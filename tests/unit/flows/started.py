"""What every freshly started flow carries, checked in one place for each flow's tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from keepgate.flows.base import Channel, Flow, FlowKind


def assert_started(flow: Flow, *, flow_id: str, kind: FlowKind, state: str, channel: Channel,
                   now: datetime, lifetime: timedelta, binding: str | None,
                   account_id: str | None = None, session_id: str | None = None) -> None:
    """``flow`` was just started: its identity, first state, clock and owner, not finished."""
    assert flow.id == flow_id
    assert flow.kind is kind
    assert flow.state == state
    assert flow.channel is channel
    assert flow.created_at == now
    assert flow.expires_at == now + lifetime
    assert flow.binding == binding
    assert flow.account_id == account_id
    assert flow.session_id == session_id
    assert not flow.finished
