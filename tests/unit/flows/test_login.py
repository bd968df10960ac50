"""keepgate.flows.login: every state and transition, walked by hand with the pure functions."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import InvalidCode, InvalidCredentials
from keepgate.domain.factors import FACTOR_PREFERENCE
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.sessions import AAL, assurance_level
from keepgate.flows import login
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    Flow,
    FlowKind,
    IssueSession,
    RecordEvent,
    SendToContact,
    StepResult,
    iso,
)
from keepgate.flows.context import claimed
from keepgate.security.codes import CodeDigester
from tests.unit.flows.started import assert_started

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
CODE_LIFETIME = timedelta(minutes=5)
EMAIL = Identifier(IdentifierKind.EMAIL, "jane.doe@example.com")
MASKED = EMAIL.masked()
ACCOUNT = "acct-1"
DIGESTER = CodeDigester(b"login-test-key-0123456789abcdefgh")
DEVICE_CODE = "613208"
PASSWORD = "correct horse battery staple orbit"
ALL_FACTORS = ("totp", "sms_code", "email_code", "recovery_code", "webauthn")


def start() -> Flow:
    return login.start("login-1", Channel.API, T0, timedelta(minutes=15))


def device_message() -> SendToContact:
    return SendToContact("device_code", EMAIL, {
        "code": DEVICE_CODE, "minutes": 5, "device": "Firefox on Linux", "ip": "203.0.113.7",
        "time": "2025-06-01 12:00 UTC", "not_me_url": "https://keepgate.example/not-me?token=t"})


def digest(flow_id: str = "login-1") -> str:
    return DIGESTER.digest(DEVICE_CODE, purpose="device", binding=flow_id)


def password_ok(flow: Flow | None = None, *, factors: Sequence[str] = (),
                trusted: bool = True, method: str = "password") -> StepResult:
    flow = flow or start()
    return login.first_factor_passed(
        flow, account_id=ACCOUNT, method=method, masked_identifier=MASKED, factors=factors,
        device_trusted=trusted, device_code=None if trusted else device_message(),
        code_digest=None if trusted else digest(flow.id), now=T0, code_lifetime=CODE_LIFETIME)


def second_ok(flow: Flow, method: str = "totp", *, trusted: bool = True) -> StepResult:
    return login.second_factor_passed(
        flow, method=method, device_trusted=trusted,
        device_code=None if trusted else device_message(),
        code_digest=None if trusted else digest(flow.id), now=T0, code_lifetime=CODE_LIFETIME)


def refuse(flow: Flow | None = None, *, account_id: str | None = ACCOUNT,
           reason: str = "wrong_password", **context: object) -> StepResult:
    return login.fail((flow or start()).with_context(**context), account_id=account_id,
                      masked_identifier=MASKED, reason=reason, error=None)


def issued(result: StepResult) -> list[IssueSession]:
    return [e for e in result.effects if isinstance(e, IssueSession)]


def events(result: StepResult) -> list[tuple[EventKind, Outcome, str | None]]:
    return [(e.kind, e.outcome, e.account_id) for e in result.effects
            if isinstance(e, RecordEvent)]


def allowed(src: str, method: str, dst: str) -> bool:
    return dst in login.TRANSITIONS.get(src, {}).get(method, frozenset())


# --- start and the table ---------------------------------------------------------------------


def test_start() -> None:
    flow = login.start("f", Channel.BROWSER, T0, timedelta(minutes=15), binding="b")
    assert_started(flow, flow_id="f", kind=FlowKind.LOGIN, state=login.AWAITING_CREDENTIALS,
                   channel=Channel.BROWSER, now=T0, lifetime=timedelta(minutes=15),
                   binding="b")
    assert login.open_methods(flow) == ("password", "webauthn")


def test_states_match_transitions() -> None:
    assert set(login.TRANSITIONS) == login.STATES
    assert {login.AWAITING_CREDENTIALS, login.AWAITING_SECOND_FACTOR,
            login.AWAITING_DEVICE_CODE, COMPLETED} == login.STATES
    for methods in login.TRANSITIONS.values():
        for targets in methods.values():
            assert targets <= login.STATES
    assert login.TRANSITIONS[COMPLETED] == {}


def test_second_factor_state_accepts_only_second_factors() -> None:
    """No password, no device code, no passwordless shortcut once a factor is demanded."""
    methods = set(login.TRANSITIONS[login.AWAITING_SECOND_FACTOR])
    assert methods == set(login.SECOND_FACTORS) == set(FACTOR_PREFERENCE)
    assert "password" not in methods
    assert "device_code" not in methods
    # The only way into completed from the first step skips no enrolled factor: it is either
    # the password of an account without factors, or a passkey (two factors in one).
    assert set(login.TRANSITIONS[login.AWAITING_CREDENTIALS]) == {"password", "webauthn"}
    assert set(login.TRANSITIONS[login.AWAITING_DEVICE_CODE]) == {"device_code"}


def test_factor_preference_is_strongest_first() -> None:
    assert FACTOR_PREFERENCE == ("webauthn", "totp", "sms_code", "email_code", "recovery_code")


# --- password, no second factor ---------------------------------------------------------------


def test_password_without_factors_on_a_trusted_device_completes() -> None:
    result = password_ok(factors=(), trusted=True)
    assert result.error is None
    assert result.flow.state == COMPLETED
    assert result.flow.finished
    assert result.flow.account_id == ACCOUNT
    assert result.flow.messages[0].code == "login.completed"
    assert issued(result) == [IssueSession(ACCOUNT, ("password",), trust_device=False)]
    assert assurance_level(issued(result)[0].methods) is AAL.AAL1
    assert result.effects[1:] == (
        RecordEvent(EventKind.LOGIN, Outcome.SUCCESS, ACCOUNT, {"methods": ["password"]}),)
    assert not any(isinstance(e, SendToContact) for e in result.effects)
    assert login.open_methods(result.flow) == ()
    assert allowed(login.AWAITING_CREDENTIALS, "password", COMPLETED)


def test_password_without_factors_on_a_new_device_asks_for_the_device_code() -> None:
    result = password_ok(factors=(), trusted=False)
    assert result.error is None
    flow = result.flow
    assert flow.state == login.AWAITING_DEVICE_CODE
    assert flow.account_id == ACCOUNT
    assert flow.messages[0].code == "login.new_device"
    assert result.effects == (
        device_message(),
        RecordEvent(EventKind.NEW_DEVICE, Outcome.SUCCESS, ACCOUNT, {}),
    )
    assert issued(result) == []
    assert flow.context["device_code_digest"] == digest()
    assert flow.context["device_code_sent_at"] == iso(T0)
    assert flow.context["device_code_expires_at"] == iso(T0 + CODE_LIFETIME)
    assert flow.context["device_code_failures"] == 0
    # The code itself goes only to the owner: never into the flow record or its messages.
    assert DEVICE_CODE not in repr(flow)
    assert login.open_methods(flow) == ("device_code",)
    assert allowed(login.AWAITING_CREDENTIALS, "password", login.AWAITING_DEVICE_CODE)


def test_first_factor_context() -> None:
    flow = start().with_context(captcha_required=True)
    result = password_ok(flow, factors=("totp",))
    assert result.flow.context["account_id"] == ACCOUNT
    assert claimed(result.flow).masked == MASKED
    assert result.flow.context["methods_used"] == ["password"]
    assert result.flow.context["captcha_required"] is False
    assert PASSWORD not in repr(result)


# --- password, with second factors ------------------------------------------------------------


ENROLMENTS = [combo for n in range(1, len(ALL_FACTORS) + 1)
              for combo in itertools.combinations(ALL_FACTORS, n)]


@pytest.mark.parametrize("factors", ENROLMENTS, ids=lambda f: "+".join(f))
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted", "new_device"])
def test_password_with_factors_demands_one_of_exactly_those(factors: tuple[str, ...],
                                                           trusted: bool) -> None:
    result = password_ok(factors=tuple(reversed(factors)), trusted=trusted)
    flow = result.flow
    assert result.error is None
    assert flow.state == login.AWAITING_SECOND_FACTOR
    assert flow.account_id == ACCOUNT
    assert flow.messages[0].code == "login.second_factor_required"
    # Nothing is issued or sent before the second factor, trusted device or not.
    assert result.effects == ()
    expected = tuple(m for m in FACTOR_PREFERENCE if m in factors)
    assert login.open_methods(flow) == expected
    assert set(login.open_methods(flow)) == set(factors)
    assert allowed(login.AWAITING_CREDENTIALS, "password", login.AWAITING_SECOND_FACTOR)


def test_open_methods_order_follows_preference_not_enrolment() -> None:
    flow = password_ok(factors=["recovery_code", "email_code", "totp", "webauthn"]).flow
    assert login.open_methods(flow) == ("webauthn", "totp", "email_code", "recovery_code")


@pytest.mark.parametrize("captcha", [False, True])
def test_second_factor_state_never_offers_a_way_around(captcha: bool) -> None:
    """Even a polluted context cannot open the password, a device code, a captcha or a
    method the account does not have."""
    flow = password_ok(factors=["sms_code"]).flow.with_context(
        factors=["sms_code", "password", "device_code", "captcha", "magic_link"],
        captcha_required=captcha)
    assert login.open_methods(flow) == ("sms_code",)


def test_second_factor_state_with_no_factors_offers_nothing() -> None:
    flow = password_ok(factors=["totp"]).flow.with_context(factors=[])
    assert login.open_methods(flow) == ()


# --- second factor ----------------------------------------------------------------------------


def test_second_factor_on_a_trusted_device_completes_at_aal2() -> None:
    waiting = password_ok(factors=["totp", "recovery_code"]).flow
    result = second_ok(waiting, "totp", trusted=True)
    assert result.error is None
    assert result.flow.state == COMPLETED
    assert result.flow.account_id == ACCOUNT
    assert issued(result) == [IssueSession(ACCOUNT, ("password", "totp"), trust_device=False)]
    assert assurance_level(("password", "totp")) is AAL.AAL2
    assert result.effects[0] == RecordEvent(EventKind.SECOND_FACTOR, Outcome.SUCCESS, ACCOUNT,
                                            {"method": "totp"})
    assert result.effects[-1] == RecordEvent(EventKind.LOGIN, Outcome.SUCCESS, ACCOUNT,
                                             {"methods": ["password", "totp"]})
    assert result.flow.context["methods_used"] == ["password", "totp"]
    assert allowed(login.AWAITING_SECOND_FACTOR, "totp", COMPLETED)


@pytest.mark.parametrize("method", ALL_FACTORS)
def test_every_second_factor_reaches_aal2(method: str) -> None:
    waiting = password_ok(factors=ALL_FACTORS).flow
    result = second_ok(waiting, method)
    (session,) = issued(result)
    assert session.methods == ("password", method)
    assert assurance_level(session.methods) is AAL.AAL2
    assert allowed(login.AWAITING_SECOND_FACTOR, method, result.flow.state)


def test_second_factor_on_a_new_device_then_device_code_trusts_the_device() -> None:
    waiting = password_ok(factors=["totp"], trusted=False).flow
    assert waiting.state == login.AWAITING_SECOND_FACTOR
    result = second_ok(waiting, "totp", trusted=False)
    assert result.flow.state == login.AWAITING_DEVICE_CODE
    assert result.effects == (
        RecordEvent(EventKind.SECOND_FACTOR, Outcome.SUCCESS, ACCOUNT, {"method": "totp"}),
        device_message(),
        RecordEvent(EventKind.NEW_DEVICE, Outcome.SUCCESS, ACCOUNT, {}),
    )
    assert issued(result) == []
    assert result.flow.context["device_code_digest"] == digest()
    assert login.open_methods(result.flow) == ("device_code",)
    assert allowed(login.AWAITING_SECOND_FACTOR, "totp", login.AWAITING_DEVICE_CODE)

    done = login.device_confirmed(result.flow)
    assert done.error is None
    assert done.flow.state == COMPLETED
    assert done.flow.context["device_code_digest"] is None
    assert done.effects == (
        IssueSession(ACCOUNT, ("password", "totp"), trust_device=True),
        RecordEvent(EventKind.DEVICE_CONFIRMED, Outcome.SUCCESS, ACCOUNT, {}),
        RecordEvent(EventKind.LOGIN, Outcome.SUCCESS, ACCOUNT,
                    {"methods": ["password", "totp"]}),
    )
    assert assurance_level(issued(done)[0].methods) is AAL.AAL2
    assert allowed(login.AWAITING_DEVICE_CODE, "device_code", COMPLETED)


def test_device_code_after_password_alone_trusts_the_device_at_aal1() -> None:
    waiting = password_ok(factors=(), trusted=False).flow
    done = login.device_confirmed(waiting)
    assert issued(done) == [IssueSession(ACCOUNT, ("password",), trust_device=True)]
    assert assurance_level(issued(done)[0].methods) is AAL.AAL1


# --- passkey (passwordless) -------------------------------------------------------------------


def test_passkey_on_a_trusted_device_completes_at_aal2() -> None:
    result = password_ok(method="passkey", factors=(), trusted=True)
    assert result.flow.state == COMPLETED
    assert issued(result) == [IssueSession(ACCOUNT, ("passkey",), trust_device=False)]
    assert assurance_level(("passkey",)) is AAL.AAL2
    assert allowed(login.AWAITING_CREDENTIALS, "webauthn", COMPLETED)


def test_passkey_on_a_new_device_still_needs_the_device_code() -> None:
    result = password_ok(method="passkey", factors=(), trusted=False)
    assert result.flow.state == login.AWAITING_DEVICE_CODE
    assert device_message() in result.effects
    assert issued(result) == []
    done = login.device_confirmed(result.flow)
    assert issued(done) == [IssueSession(ACCOUNT, ("passkey",), trust_device=True)]
    assert allowed(login.AWAITING_CREDENTIALS, "webauthn", login.AWAITING_DEVICE_CODE)


# --- failures ---------------------------------------------------------------------------------


def test_wrong_password_is_invalid_credentials() -> None:
    result = refuse(reason="wrong_password")
    assert isinstance(result.error, InvalidCredentials)
    assert result.error.code == "login.invalid_credentials"
    assert result.flow.state == login.AWAITING_CREDENTIALS
    assert result.flow.account_id is None
    assert issued(result) == []
    assert result.effects == (
        RecordEvent(EventKind.LOGIN, Outcome.FAILURE, ACCOUNT,
                    {"identifier": MASKED, "reason": "wrong_password",
                     "step": login.AWAITING_CREDENTIALS}),
    )
    assert result.flow.messages[0].code == "login.invalid_credentials"
    assert result.flow.messages[0].type == "error"
    assert result.flow.context["failures"] == 1
    assert allowed(login.AWAITING_CREDENTIALS, "password", login.AWAITING_CREDENTIALS)


@pytest.mark.parametrize("reason", ["unknown_account", "banned", "locked", "captcha_failed"])
def test_every_refusal_gets_the_same_answer(reason: str) -> None:
    account_id = None if reason == "unknown_account" else ACCOUNT
    other = refuse(account_id=account_id, reason=reason)
    wrong = refuse(reason="wrong_password")
    assert isinstance(other.error, InvalidCredentials)
    assert type(other.error) is type(wrong.error)
    assert wrong.error is not None
    assert other.error.code == wrong.error.code
    assert other.error.message == wrong.error.message
    assert other.flow == wrong.flow
    # Only the private record tells them apart.
    (event,) = other.effects
    assert isinstance(event, RecordEvent)
    assert (event.kind, event.outcome, event.account_id) == (
        EventKind.LOGIN, Outcome.FAILURE, account_id)
    assert event.details["reason"] == reason


def test_a_specific_error_can_be_given() -> None:
    waiting = password_ok(factors=["totp"]).flow
    result = login.fail(waiting, account_id=ACCOUNT, masked_identifier=MASKED,
                        reason="totp_wrong", error=InvalidCode())
    assert isinstance(result.error, InvalidCode)
    assert result.flow.state == login.AWAITING_SECOND_FACTOR
    assert result.flow.messages[0].code == "code.invalid"
    assert result.effects == (
        RecordEvent(EventKind.LOGIN, Outcome.FAILURE, ACCOUNT,
                    {"identifier": MASKED, "reason": "totp_wrong",
                     "step": login.AWAITING_SECOND_FACTOR}),
    )
    # Still only the account's factors.
    assert login.open_methods(result.flow) == ("totp",)
    assert allowed(login.AWAITING_SECOND_FACTOR, "totp", login.AWAITING_SECOND_FACTOR)


def test_wrong_device_code_stays_in_awaiting_device_code() -> None:
    waiting = password_ok(trusted=False).flow
    result = login.fail(waiting.with_context(device_code_failures=1), account_id=ACCOUNT,
                        masked_identifier=MASKED, reason="device_code_wrong",
                        error=InvalidCode())
    assert result.flow.state == login.AWAITING_DEVICE_CODE
    assert result.flow.context["device_code_failures"] == 1
    assert result.flow.context["device_code_digest"] == digest()
    assert issued(result) == []
    assert allowed(login.AWAITING_DEVICE_CODE, "device_code", login.AWAITING_DEVICE_CODE)


def test_failures_are_counted_then_success_completes() -> None:
    flow = start()
    for expected in (1, 2, 3):
        result = refuse(flow)
        flow = result.flow
        assert flow.context["failures"] == expected
        assert flow.state == login.AWAITING_CREDENTIALS
    assert password_ok(flow).flow.state == COMPLETED


def test_event_details_never_carry_secrets() -> None:
    result = refuse(reason="wrong_password", captcha_required=True)
    (event,) = result.effects
    assert isinstance(event, RecordEvent)
    assert set(event.details) == {"identifier", "reason", "step"}
    assert event.details["identifier"] == MASKED
    assert EMAIL.value not in repr(event)
    assert PASSWORD not in repr(result)
    # Extra context goes to the flow, never to the audit record.
    assert result.flow.context["captcha_required"] is True


def test_success_events_carry_no_code_or_digest() -> None:
    waiting = password_ok(factors=["sms_code"], trusted=False).flow
    result = second_ok(waiting, "sms_code", trusted=False)
    for event in result.effects:
        if isinstance(event, RecordEvent):
            assert DEVICE_CODE not in repr(event)
            assert digest() not in repr(event)


# --- captcha ----------------------------------------------------------------------------------


def test_captcha_required_opens_captcha_only_while_awaiting_credentials() -> None:
    flow = start().with_context(captcha_required=True)
    assert login.open_methods(flow) == ("password", "webauthn", "captcha")
    assert "captcha" not in login.open_methods(start())
    refused = refuse(flow)
    assert "captcha" in login.open_methods(refused.flow)
    for state in (login.AWAITING_SECOND_FACTOR, login.AWAITING_DEVICE_CODE, COMPLETED):
        moved = flow.evolve(state=state).with_context(factors=["totp"])
        assert "captcha" not in login.open_methods(moved)


def test_passing_the_password_clears_the_captcha_demand() -> None:
    flow = start().with_context(captcha_required=True)
    waiting = password_ok(flow, factors=["totp"]).flow
    assert waiting.context["captcha_required"] is False
    assert login.open_methods(waiting) == ("totp",)


# --- the whole walk ---------------------------------------------------------------------------


def test_full_walk_through_every_state() -> None:
    flow = start()
    seen = [flow.state]
    flow = refuse(flow).flow
    seen.append(flow.state)
    step = password_ok(flow, factors=["sms_code", "totp"], trusted=False)
    flow = step.flow
    seen.append(flow.state)
    flow = login.fail(flow, account_id=ACCOUNT, masked_identifier=MASKED, reason="totp_wrong",
                      error=InvalidCode()).flow
    seen.append(flow.state)
    flow = second_ok(flow, "sms_code", trusted=False).flow
    seen.append(flow.state)
    done = login.device_confirmed(flow)
    seen.append(done.flow.state)
    assert seen == [login.AWAITING_CREDENTIALS, login.AWAITING_CREDENTIALS,
                    login.AWAITING_SECOND_FACTOR, login.AWAITING_SECOND_FACTOR,
                    login.AWAITING_DEVICE_CODE, COMPLETED]
    assert set(seen) == login.STATES
    assert done.flow.context["failures"] == 2
    assert issued(done) == [IssueSession(ACCOUNT, ("password", "sms_code"), trust_device=True)]


def test_masked_identifier() -> None:
    assert login.masked_identifier(EMAIL) == EMAIL.masked()
    assert EMAIL.value not in login.masked_identifier(EMAIL)
