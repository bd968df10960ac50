"""keepgate.flows.step_up: prove a second factor again, then the session is elevated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.factors import FACTOR_PREFERENCE
from keepgate.flows import step_up
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    ElevateSession,
    Flow,
    FlowKind,
    RecordEvent,
    open_methods,
)
from tests.unit.flows.started import assert_started

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def start(factors: tuple[str, ...] = ("totp", "recovery_code")) -> Flow:
    return step_up.start("up-1", Channel.API, T0, timedelta(minutes=10), account_id="acct-1",
                         session_id="sess-1", factors=factors)


def test_start() -> None:
    flow = step_up.start("up-1", Channel.BROWSER, T0, timedelta(minutes=10),
                         account_id="acct-1", session_id="sess-1",
                         factors=("webauthn", "totp"), binding="b1")
    assert_started(flow, flow_id="up-1", kind=FlowKind.STEP_UP,
                   state=step_up.AWAITING_SECOND_FACTOR, channel=Channel.BROWSER, now=T0,
                   lifetime=timedelta(minutes=10), binding="b1", account_id="acct-1",
                   session_id="sess-1")
    assert dict(flow.context) == {"account_id": "acct-1", "session_id": "sess-1",
                                  "factors": ["webauthn", "totp"]}
    assert [m.code for m in flow.messages] == ["step_up.required"]


def test_start_copies_factors_into_a_list() -> None:
    factors = ("totp",)
    flow = start(factors)
    assert flow.context["factors"] == ["totp"]
    assert isinstance(flow.context["factors"], list)


def test_transitions() -> None:
    assert set(step_up.TRANSITIONS) == step_up.STATES
    assert {step_up.AWAITING_SECOND_FACTOR, COMPLETED} == step_up.STATES
    waiting = step_up.TRANSITIONS[step_up.AWAITING_SECOND_FACTOR]
    assert set(waiting) == set(step_up.FACTORS) == set(FACTOR_PREFERENCE)
    for targets in waiting.values():
        assert targets == frozenset({step_up.AWAITING_SECOND_FACTOR, COMPLETED})
    assert step_up.TRANSITIONS[COMPLETED] == {}


def test_no_first_factor_or_device_code_can_step_up() -> None:
    waiting = step_up.TRANSITIONS[step_up.AWAITING_SECOND_FACTOR]
    for method in ("password", "device_code", "captcha", "passkey"):
        assert method not in waiting
    assert open_methods(step_up.TRANSITIONS, COMPLETED) == ()


@pytest.mark.parametrize("method", step_up.FACTORS)
def test_passed_elevates_the_session_and_records_it(method: str) -> None:
    result = step_up.passed(start(), method=method)
    assert result.error is None
    assert result.flow.state == COMPLETED
    assert result.flow.finished
    assert result.flow.account_id == "acct-1"
    assert [m.code for m in result.flow.messages] == ["step_up.completed"]
    assert result.effects == (
        ElevateSession("sess-1", method),
        RecordEvent(EventKind.STEP_UP, Outcome.SUCCESS, "acct-1", {"method": method}),
    )
    assert COMPLETED in step_up.TRANSITIONS[step_up.AWAITING_SECOND_FACTOR][method]


def test_passed_elevates_the_flow_session_not_another() -> None:
    flow = step_up.start("up-2", Channel.API, T0, timedelta(minutes=10), account_id="acct-9",
                         session_id="sess-9", factors=("totp",))
    result = step_up.passed(flow, method="totp")
    elevations = [e for e in result.effects if isinstance(e, ElevateSession)]
    assert elevations == [ElevateSession("sess-9", "totp")]


def test_event_details_carry_no_secret() -> None:
    result = step_up.passed(start(), method="totp")
    (event,) = [e for e in result.effects if isinstance(e, RecordEvent)]
    assert set(event.details) == {"method"}


@pytest.mark.parametrize(("enrolled", "offered"), [
    (("email_code", "recovery_code", "totp"), ("totp", "recovery_code")),
    (("email_code", "sms_code"), ("sms_code",)),
    (("email_code", "webauthn"), ("webauthn",)),
    (("email_code", "recovery_code"), ("email_code", "recovery_code")),
])
def test_an_email_code_is_offered_only_when_no_factor_is_strong(
        enrolled: tuple[str, ...], offered: tuple[str, ...]) -> None:
    assert step_up.open_methods(start(enrolled)) == offered
