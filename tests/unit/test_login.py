"""keepgate.flows.login: the password step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import InvalidCredentials
from keepgate.domain.sessions import AAL, assurance_level
from keepgate.flows import login
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    Flow,
    FlowKind,
    IssueSession,
    RecordEvent,
    open_methods,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MASKED = "j•••••••@example.com"


def start() -> Flow:
    return login.start("login-1", Channel.API, T0, timedelta(minutes=15))


def test_start() -> None:
    flow = login.start("f", Channel.BROWSER, T0, timedelta(minutes=15), binding="b")
    assert flow.kind is FlowKind.LOGIN
    assert flow.state == login.AWAITING_CREDENTIALS
    assert flow.expires_at == T0 + timedelta(minutes=15)
    assert flow.binding == "b"
    assert flow.account_id is None
    assert open_methods(login.TRANSITIONS, flow.state) == ("password",)


def test_states_match_transitions() -> None:
    assert set(login.TRANSITIONS) == login.STATES
    assert open_methods(login.TRANSITIONS, COMPLETED) == ()


def test_success_issues_a_password_session() -> None:
    result = login.submit_password(start(), account_id="acct-1", verified=True,
                                   masked_identifier=MASKED)
    assert result.error is None
    assert result.flow.state == COMPLETED
    assert result.flow.finished
    assert result.flow.account_id == "acct-1"
    assert result.flow.messages[0].code == "login.completed"
    issues = [e for e in result.effects if isinstance(e, IssueSession)]
    assert issues == [IssueSession("acct-1", ("password",))]
    assert assurance_level(issues[0].methods) is AAL.AAL1
    events = [e for e in result.effects if isinstance(e, RecordEvent)]
    assert [(e.kind, e.outcome, e.account_id) for e in events] == [
        (EventKind.LOGIN, Outcome.SUCCESS, "acct-1")]


def test_wrong_password_is_invalid_credentials() -> None:
    result = login.submit_password(start(), account_id="acct-1", verified=False,
                                   masked_identifier=MASKED)
    assert isinstance(result.error, InvalidCredentials)
    assert result.error.code == "login.invalid_credentials"
    assert result.flow.state == login.AWAITING_CREDENTIALS
    assert result.flow.account_id is None
    assert not any(isinstance(e, IssueSession) for e in result.effects)
    assert result.effects == (
        RecordEvent(EventKind.LOGIN, Outcome.FAILURE, "acct-1",
                    {"identifier": MASKED, "reason": "invalid_credentials"}),
    )
    assert result.flow.messages[0].code == "login.invalid_credentials"
    assert result.flow.messages[0].type == "error"


def test_unknown_account_gets_the_same_answer() -> None:
    unknown = login.submit_password(start(), account_id=None, verified=False,
                                    masked_identifier=MASKED)
    wrong = login.submit_password(start(), account_id="acct-1", verified=False,
                                  masked_identifier=MASKED)
    assert isinstance(unknown.error, InvalidCredentials)
    assert type(unknown.error) is type(wrong.error)
    assert wrong.error is not None
    assert unknown.error.code == wrong.error.code
    assert unknown.error.message == wrong.error.message
    assert unknown.flow == wrong.flow
    assert unknown.effects[0].kind is EventKind.LOGIN  # type: ignore[union-attr]
    assert unknown.effects[0].outcome is Outcome.FAILURE  # type: ignore[union-attr]


def test_verified_without_account_is_never_a_success() -> None:
    result = login.submit_password(start(), account_id=None, verified=True,
                                   masked_identifier=MASKED)
    assert isinstance(result.error, InvalidCredentials)
    assert result.flow.state != COMPLETED
    assert not any(isinstance(e, IssueSession) for e in result.effects)


def test_failures_are_counted_then_success_completes() -> None:
    flow = start()
    for expected in (1, 2, 3):
        result = login.submit_password(flow, account_id="acct-1", verified=False,
                                       masked_identifier=MASKED)
        flow = result.flow
        assert flow.context["failures"] == expected
        assert flow.state == login.AWAITING_CREDENTIALS
    result = login.submit_password(flow, account_id="acct-1", verified=True,
                                   masked_identifier=MASKED)
    assert result.flow.state == COMPLETED


def test_event_details_never_carry_secrets() -> None:
    result = login.submit_password(start(), account_id="acct-1", verified=False,
                                   masked_identifier=MASKED)
    details = result.effects[0].details  # type: ignore[union-attr]
    assert set(details) == {"identifier", "reason"}
