"""keepgate.flows.registration: every state and transition, walked by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    InvalidCode,
    ResendTooSoon,
)
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import CodePolicy
from keepgate.flows import registration
from keepgate.flows.base import (
    COMPLETED,
    FAILED,
    Channel,
    CreateAccount,
    Flow,
    FlowKind,
    RecordEvent,
    SendToContact,
    StepResult,
)
from keepgate.security.codes import CodeDigester
from tests.unit.flows.started import assert_started

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = CodePolicy()
DIGESTER = CodeDigester(b"registration-test-key-0123456789")
EMAIL = Identifier(IdentifierKind.EMAIL, "jane.doe@example.com")
PHONE = Identifier(IdentifierKind.PHONE, "+447911123456")
CODE = "042917"
HASH = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"


def start(flow_id: str = "flow-1", channel: Channel = Channel.API) -> Flow:
    return registration.start(flow_id, channel, T0, timedelta(minutes=30))


def credentials(flow: Flow | None = None, *, identifier: Identifier = EMAIL,
                existing: str | None = None, code: str = CODE,
                now: datetime = T0) -> StepResult:
    return registration.submit_credentials(
        flow or start(), identifier=identifier, password_hash=HASH,
        existing_account_id=existing, code=code, digester=DIGESTER, now=now, policy=POLICY)


def submit(flow: Flow, code: str, now: datetime = T0 + timedelta(minutes=1)) -> StepResult:
    return registration.submit_code(flow, code=code, digester=DIGESTER, now=now, policy=POLICY)


def resend(flow: Flow, now: datetime, code: str = "777777") -> StepResult:
    return registration.resend_code(flow, code=code, digester=DIGESTER, now=now, policy=POLICY)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# --- start ----------------------------------------------------------------------------------


def test_start() -> None:
    flow = registration.start("f", Channel.BROWSER, T0, timedelta(minutes=30), binding="b1")
    assert_started(flow, flow_id="f", kind=FlowKind.REGISTRATION,
                   state=registration.AWAITING_CREDENTIALS, channel=Channel.BROWSER, now=T0,
                   lifetime=timedelta(minutes=30), binding="b1")
    assert registration.public_data(flow, POLICY) == {}


def test_states_match_transitions() -> None:
    assert set(registration.TRANSITIONS) == registration.STATES
    for targets in registration.TRANSITIONS.values():
        for states in targets.values():
            assert states <= registration.STATES


# --- submit_credentials -------------------------------------------------------------------


@pytest.mark.parametrize("identifier", [EMAIL, PHONE])
def test_new_identifier_gets_a_code(identifier: Identifier) -> None:
    result = credentials(identifier=identifier)
    assert result.error is None
    assert result.flow.state == registration.AWAITING_CODE
    assert result.effects == (
        SendToContact("registration_code", identifier, {"code": CODE, "minutes": 10}),
        # recorded as an attempt on an existing address is, so both cost the same writes
        RecordEvent(EventKind.SIGNUP_CODE_SENT, Outcome.SUCCESS, None,
                    {"identifier": identifier.masked()}),
    )
    ctx = result.flow.context
    assert ctx["code_digest"] is not None
    assert CODE not in str(ctx["code_digest"])
    assert ctx["failures"] == 0
    assert ctx["existing"] is False
    assert ctx["password_hash"] == HASH
    assert result.flow.messages[0].code == "code.sent"
    assert identifier.masked() in result.flow.messages[0].text
    assert identifier.value not in result.flow.messages[0].text


def test_existing_identifier_gets_a_notice_not_a_code() -> None:
    result = credentials(existing="acct-9")
    assert result.error is None
    assert result.flow.state == registration.AWAITING_CODE
    sends = [e for e in result.effects if isinstance(e, SendToContact)]
    assert sends == [SendToContact("registration_attempt_existing", EMAIL, {})]
    assert all(CODE not in str(e) for e in result.effects)
    events = [e for e in result.effects if isinstance(e, RecordEvent)]
    assert events == [RecordEvent(EventKind.SIGNUP_ATTEMPT_EXISTING, Outcome.FAILURE, "acct-9",
                                  {"identifier": EMAIL.masked()})]
    assert EMAIL.value not in str(events[0].details)
    assert result.flow.context["code_digest"] is None


@pytest.mark.parametrize("identifier", [EMAIL, PHONE])
def test_new_and_existing_look_the_same_to_the_client(identifier: Identifier) -> None:
    new = credentials(identifier=identifier).flow
    old = credentials(identifier=identifier, existing="acct-9").flow
    assert new.state == old.state
    assert new.messages == old.messages
    assert new.expires_at == old.expires_at
    assert registration.public_data(new, POLICY) == registration.public_data(old, POLICY)
    public = registration.public_data(new, POLICY)
    assert "existing" not in public
    assert all(HASH not in str(v) for v in public.values())


def test_public_data_after_credentials() -> None:
    flow = credentials(identifier=PHONE).flow
    assert registration.public_data(flow, POLICY) == {
        "sent_to": PHONE.masked(),
        "channel": "sms",
        "code_expires_at": T0 + timedelta(minutes=10),
        "resend_available_at": T0 + timedelta(seconds=60),
        "attempts_left": 5,
    }
    assert registration.public_data(credentials().flow, POLICY)["channel"] == "email"


def test_existing_identifier_can_never_be_completed() -> None:
    flow = credentials(existing="acct-9").flow
    for attempt in (CODE, "000000", "999999", "123456"):
        result = submit(flow, attempt)
        assert result.flow.state != COMPLETED
        assert not any(isinstance(e, CreateAccount) for e in result.effects)
        assert isinstance(result.error, InvalidCode | CodeAttemptsExhausted)


def test_existing_identifier_resend_sends_nothing_and_still_cannot_complete() -> None:
    flow = credentials(existing="acct-9").flow
    new_flow = credentials().flow
    later = T0 + timedelta(minutes=2)
    result = resend(flow, later, code="555555")
    assert result.effects == ()
    assert result.flow.context["code_digest"] is None
    # The answer looks the same as a resend for a new identifier.
    assert result.flow.messages == resend(new_flow, later, code="555555").flow.messages
    assert result.flow.state == registration.AWAITING_CODE
    done = submit(result.flow, "555555", now=later + timedelta(seconds=5))
    assert done.flow.state != COMPLETED
    assert isinstance(done.error, InvalidCode)


def test_existing_identifier_fails_after_five_wrong_codes_like_any_other() -> None:
    flow = credentials(existing="acct-9").flow
    for _ in range(4):
        result = submit(flow, CODE)
        assert isinstance(result.error, InvalidCode)
        flow = result.flow
    result = submit(flow, CODE)
    assert result.flow.state == FAILED
    assert isinstance(result.error, CodeAttemptsExhausted)


# --- submit_code ----------------------------------------------------------------------------


def test_right_code_completes_with_create_account() -> None:
    flow = credentials(identifier=PHONE).flow
    result = submit(flow, CODE)
    assert result.error is None
    assert result.flow.state == COMPLETED
    assert result.flow.finished
    assert result.effects == (CreateAccount(PHONE, HASH),)
    assert result.flow.context["code_digest"] is None
    assert result.flow.context["password_hash"] is None
    assert result.flow.messages[0].code == "registration.completed"
    assert registration.public_data(result.flow, POLICY) == {}


def test_completed_flow_cannot_create_a_second_account() -> None:
    done = submit(credentials().flow, CODE).flow
    again = submit(done, CODE)
    assert not any(isinstance(e, CreateAccount) for e in again.effects)
    assert again.error is not None


def test_code_of_another_flow_is_refused() -> None:
    flow_a = credentials(start("flow-a"), code="111111").flow
    flow_b = credentials(start("flow-b"), code="222222").flow
    result = submit(flow_b, "111111")
    assert isinstance(result.error, InvalidCode)
    assert result.flow.state == registration.AWAITING_CODE
    # A flow's stored digest transplanted into another flow does not verify there either.
    transplanted = flow_b.with_context(code_digest=flow_a.context["code_digest"])
    assert isinstance(submit(transplanted, "111111").error, InvalidCode)


def test_wrong_codes_count_and_the_fifth_fails_the_flow() -> None:
    flow = credentials().flow
    bad = wrong(CODE)
    for failures in range(1, 5):
        result = submit(flow, bad)
        assert isinstance(result.error, InvalidCode)
        assert result.error.code == "code.invalid"
        assert result.flow.state == registration.AWAITING_CODE
        assert result.flow.context["failures"] == failures
        left = 5 - failures
        assert result.error.details == {"attempts_left": left}
        assert f"{left} attempt" in result.error.message
        assert result.flow.messages[0].type == "error"
        assert registration.public_data(result.flow, POLICY)["attempts_left"] == left
        assert result.effects == ()
        flow = result.flow
    result = submit(flow, bad)
    assert result.flow.state == FAILED
    assert result.flow.finished
    assert isinstance(result.error, CodeAttemptsExhausted)
    assert result.error.code == "code.attempts_exhausted"
    assert result.flow.messages[0].code == "code.attempts_exhausted"
    assert result.flow.context["failures"] == 5
    assert result.flow.context["code_digest"] is None
    assert result.flow.context["password_hash"] is None
    assert result.effects == ()
    # Even the right code cannot complete a failed flow.
    after = submit(result.flow, CODE)
    assert after.flow.state != COMPLETED
    assert not any(isinstance(e, CreateAccount) for e in after.effects)


def test_singular_attempt_message() -> None:
    flow = credentials().flow.with_context(failures=3)
    result = submit(flow, wrong(CODE))
    assert result.error is not None
    assert "1 attempt left" in result.error.message


def test_custom_failure_limit() -> None:
    policy = CodePolicy(max_failures=2)
    flow = credentials().flow
    first = registration.submit_code(flow, code=wrong(CODE), digester=DIGESTER,
                                     now=T0, policy=policy)
    assert isinstance(first.error, InvalidCode)
    second = registration.submit_code(first.flow, code=wrong(CODE), digester=DIGESTER,
                                      now=T0, policy=policy)
    assert second.flow.state == FAILED


def test_expired_code() -> None:
    flow = credentials().flow
    expiry = T0 + POLICY.lifetime
    assert submit(flow, CODE, now=expiry - timedelta(microseconds=1)).flow.state == COMPLETED
    for now in (expiry, expiry + timedelta(hours=1)):
        result = submit(flow, CODE, now=now)
        assert isinstance(result.error, CodeExpired)
        assert result.error.code == "code.expired"
        assert result.flow.state == registration.AWAITING_CODE
        assert result.flow.messages[0].code == "code.expired"
        assert result.effects == ()
        # An expired code is not a guess: the failure count is unchanged.
        assert result.flow.context["failures"] == 0


def test_code_lifetime_is_ten_minutes() -> None:
    flow = credentials().flow
    assert registration.public_data(flow, POLICY)["code_expires_at"] == T0 + timedelta(minutes=10)


# --- resend ---------------------------------------------------------------------------------


def test_resend_too_soon_with_retry_after() -> None:
    flow = credentials().flow
    with pytest.raises(ResendTooSoon) as info:
        resend(flow, T0)
    assert info.value.code == "code.resend_too_soon"
    assert info.value.retry_after == 60
    with pytest.raises(ResendTooSoon) as info:
        resend(flow, T0 + timedelta(seconds=30))
    assert info.value.retry_after == 30
    with pytest.raises(ResendTooSoon) as info:
        resend(flow, T0 + timedelta(seconds=59, microseconds=500_000))
    assert info.value.retry_after == 1


@pytest.mark.parametrize("remaining_us", [1, 500, 999_000, 29_000_500, 29_999_999, 59_999_999])
def test_retry_after_is_never_shorter_than_the_wait(remaining_us: int) -> None:
    # A client that waits exactly retry_after seconds must then be allowed to resend.
    flow = credentials().flow
    now = T0 + POLICY.resend_cooldown - timedelta(microseconds=remaining_us)
    with pytest.raises(ResendTooSoon) as info:
        resend(flow, now)
    retry_after = info.value.retry_after
    assert retry_after is not None
    assert now + timedelta(seconds=retry_after) >= T0 + POLICY.resend_cooldown
    assert retry_after <= 60
    resend(flow, now + timedelta(seconds=retry_after))  # does not raise


def test_resend_allowed_exactly_at_cooldown() -> None:
    flow = credentials().flow
    result = resend(flow, T0 + timedelta(seconds=60), code="555555")
    assert result.effects == (
        SendToContact("registration_code", EMAIL, {"code": "555555", "minutes": 10}),
    )


def test_the_owner_notice_can_be_held_back_without_changing_the_answer() -> None:
    # The hourly per-address budget lives in the send-budget service (tests/api); the pure
    # step only obeys its verdict on the owner's notice.
    told = registration.submit_credentials(
        start(), identifier=EMAIL, password_hash=HASH, existing_account_id="acc-1",
        code="123456", digester=DIGESTER, now=T0, policy=POLICY)
    quiet = registration.submit_credentials(
        start(), identifier=EMAIL, password_hash=HASH, existing_account_id="acc-1",
        code="123456", digester=DIGESTER, now=T0, policy=POLICY, notify_owner=False)
    assert [e.template for e in told.effects if isinstance(e, SendToContact)] == [
        "registration_attempt_existing"]
    assert not [e for e in quiet.effects if isinstance(e, SendToContact)]
    assert quiet.flow.state == told.flow.state and quiet.flow.messages == told.flow.messages


def test_resend_replaces_the_code_and_never_resets_failures() -> None:
    flow = credentials().flow
    for _ in range(3):
        flow = submit(flow, wrong(CODE)).flow
    assert flow.context["failures"] == 3
    later = T0 + timedelta(minutes=3)
    result = resend(flow, later, code="555555")
    flow = result.flow
    assert flow.context["failures"] == 3
    assert registration.public_data(flow, POLICY)["attempts_left"] == 2
    assert registration.public_data(flow, POLICY)["resend_available_at"] == later + timedelta(
        seconds=60)
    assert registration.public_data(flow, POLICY)["code_expires_at"] == later + timedelta(
        minutes=10)
    # The old code is dead.
    old = submit(flow, CODE, now=later)
    assert isinstance(old.error, InvalidCode)
    assert old.flow.context["failures"] == 4
    # The new code works, and the cooldown restarts from the resend.
    assert submit(flow, "555555", now=later).flow.state == COMPLETED
    with pytest.raises(ResendTooSoon):
        resend(flow, later + timedelta(seconds=59))


def test_resend_extends_code_expiry() -> None:
    flow = credentials().flow
    later = T0 + timedelta(minutes=9)
    flow = resend(flow, later, code="555555").flow
    assert submit(flow, "555555", now=T0 + timedelta(minutes=15)).flow.state == COMPLETED


def test_resend_after_four_failures_then_one_more_wrong_fails() -> None:
    flow = credentials().flow
    for _ in range(4):
        flow = submit(flow, wrong(CODE)).flow
    flow = resend(flow, T0 + timedelta(minutes=2), code="555555").flow
    result = submit(flow, "555556", now=T0 + timedelta(minutes=2))
    assert result.flow.state == FAILED
    assert isinstance(result.error, CodeAttemptsExhausted)


def test_identifier_of_round_trips() -> None:
    assert registration.identifier_of(credentials(identifier=PHONE).flow) == PHONE
    assert registration.identifier_of(credentials().flow) == EMAIL
