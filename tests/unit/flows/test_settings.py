"""keepgate.flows.settings: a session's flow for enrolling second factors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keepgate.domain.factors import FACTOR_PREFERENCE, FactorKind
from keepgate.flows import settings
from keepgate.flows.base import Channel, FlowKind, open_methods
from tests.unit.flows.started import assert_started

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_start() -> None:
    flow = settings.start("set-1", Channel.BROWSER, T0, timedelta(minutes=30),
                          account_id="acct-1", session_id="sess-1",
                          account_name="jane.doe@example.com", binding="b1")
    assert_started(flow, flow_id="set-1", kind=FlowKind.SETTINGS, state=settings.READY,
                   channel=Channel.BROWSER, now=T0, lifetime=timedelta(minutes=30),
                   binding="b1", account_id="acct-1", session_id="sess-1")
    assert dict(flow.context) == {"account_id": "acct-1", "session_id": "sess-1",
                                  "account_name": "jane.doe@example.com"}
    assert flow.messages == ()
    assert flow.version == 0
    assert not flow.is_expired(T0 + timedelta(minutes=29))
    assert flow.is_expired(T0 + timedelta(minutes=30))


def test_start_without_binding_for_api_clients() -> None:
    flow = settings.start("set-2", Channel.API, T0, timedelta(minutes=30), account_id="a",
                          session_id="s", account_name="+447911123456")
    assert flow.binding is None
    assert flow.channel is Channel.API


def test_transitions() -> None:
    assert set(settings.TRANSITIONS) == settings.STATES == {settings.READY}
    assert set(settings.TRANSITIONS[settings.READY]) == set(settings.METHODS)
    for targets in settings.TRANSITIONS[settings.READY].values():
        assert targets == frozenset({settings.READY})


def test_methods_cover_every_factor_kind_and_recovery_codes() -> None:
    assert {k.value for k in FactorKind} | {"recovery_code"} <= set(settings.METHODS)
    assert set(FACTOR_PREFERENCE) <= set(settings.METHODS)
    # Settings changes methods; it is never a way to sign in.
    for method in ("password", "device_code", "captcha", "passkey"):
        assert method not in settings.METHODS


def test_open_methods_in_ready() -> None:
    assert open_methods(settings.TRANSITIONS, settings.READY) == settings.METHODS


def test_settings_flow_never_finishes_by_itself() -> None:
    # No state leads anywhere but ready: the flow ends by expiry, not by completion.
    targets = {t for methods in settings.TRANSITIONS.values() for ts in methods.values()
               for t in ts}
    assert targets == {settings.READY}
