"""keepgate.flows.recovery: each state walked by hand, no database and no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from keepgate.domain.audit import EventKind
from keepgate.domain.errors import InvalidCode
from keepgate.domain.identifiers import parse_identifier
from keepgate.domain.policy import Policies
from keepgate.flows import recovery
from keepgate.flows.base import COMPLETED, FAILED, Channel, Flow, RecordEvent, ResetPassword
from keepgate.flows.context import with_captcha_required, with_code_sent
from keepgate.flows.registry import spec_for
from keepgate.flows.spec import Opening

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SPEC = spec_for("recovery")


def fresh() -> Flow:
    return SPEC.start(Opening("f-1", Channel.API, T0, Policies()))


def waiting(identifier: str = "jane@example.com", account_id: str | None = "acct-1") -> Flow:
    flow = recovery.identified(fresh(), identifier=parse_identifier(identifier),
                               account_id=account_id)
    return with_code_sent(flow, recovery.CODE, digest="d" if account_id else None, sent_at=T0,
                          expires_at=T0 + timedelta(minutes=10), failures=0)


def test_a_flow_starts_asking_where_the_code_goes() -> None:
    flow = fresh()
    assert flow.state == recovery.AWAITING_IDENTIFIER
    assert SPEC.methods(flow) == ("identifier",)
    assert SPEC.methods(with_captcha_required(flow, True)) == ("identifier", "captcha")
    assert SPEC.public_data(flow, (), Policies()) == {}


def test_known_and_unknown_identifiers_look_alike() -> None:
    known, unknown = waiting(), waiting("nobody@example.com", account_id=None)
    for flow in (known, unknown):
        assert flow.state == recovery.AWAITING_CODE
        assert SPEC.methods(flow) == ("code",)
        data = SPEC.public_data(flow, SPEC.methods(flow), Policies())
        assert set(data) == {"sent_to", "channel", "code_expires_at", "resend_available_at",
                             "attempts_left"}
        assert data["channel"] == "email" and data["attempts_left"] == 5
        assert data["resend_available_at"] == T0 + timedelta(seconds=60)
    assert known.messages[0].code == unknown.messages[0].code == "recovery.code_sent"
    assert recovery.candidate_of(known) == "acct-1" and recovery.candidate_of(unknown) is None
    assert "account_id" not in known.context  # private until the code proves the address


def test_a_phone_gets_an_sms() -> None:
    assert recovery.channel_of(waiting("+447911123456")) == "sms"


def test_a_wrong_code_stays_and_the_fifth_ends_the_flow() -> None:
    flow = waiting()
    wrong = recovery.code_refused(flow, InvalidCode(), killed=False)
    assert wrong.flow.state == recovery.AWAITING_CODE and isinstance(wrong.error, InvalidCode)
    killed = recovery.code_refused(flow, InvalidCode(), killed=True)
    assert killed.flow.state == FAILED and SPEC.methods(killed.flow) == ()
    assert killed.error is not None and killed.error.code == "code.attempts_exhausted"


def test_without_a_factor_the_code_leads_to_the_new_password() -> None:
    result = recovery.code_accepted(waiting(), account_id="acct-1", factors=(),
                                    locked_account=False)
    assert result.flow.state == recovery.AWAITING_PASSWORD
    assert SPEC.methods(result.flow) == ("new_password",)
    assert [type(e) for e in result.effects] == [RecordEvent]
    assert result.effects[0].kind is EventKind.RECOVERY_CODE_CONFIRMED  # type: ignore[union-attr]


def test_with_a_factor_the_code_leads_to_it() -> None:
    enrolled = ("email_code", "recovery_code", "sms_code", "totp", "webauthn")
    usable = recovery.usable_factors(waiting(), enrolled)
    assert usable == ("recovery_code", "sms_code", "totp", "webauthn")
    result = recovery.code_accepted(waiting(), account_id="acct-1", factors=usable,
                                    locked_account=False)
    assert result.flow.state == recovery.AWAITING_SECOND_FACTOR
    assert SPEC.methods(result.flow) == ("webauthn", "totp", "sms_code", "recovery_code")
    assert SPEC.public_data(result.flow, SPEC.methods(result.flow), Policies()) == {
        "factors": ["webauthn", "totp", "sms_code", "recovery_code"]}


def test_an_sms_reset_never_takes_an_sms_code_as_the_second_proof() -> None:
    sms = waiting("+447911123456")
    assert recovery.usable_factors(sms, ("email_code", "recovery_code", "sms_code")) == (
        "recovery_code",)
    stuck = recovery.no_usable_factor(sms)
    assert stuck.flow.state == FAILED
    assert stuck.flow.messages[0].code == "recovery.second_factor_unavailable"


def test_the_second_factor_leads_to_the_new_password() -> None:
    flow = recovery.code_accepted(waiting(), account_id="acct-1", factors=("totp",),
                                  locked_account=False).flow
    result = recovery.second_factor_passed(flow, method="totp")
    assert result.flow.state == recovery.AWAITING_PASSWORD
    assert recovery.methods_used(result.flow) == ("email_code", "totp")
    SPEC.check_landing(flow.state, "totp", result.flow.state, refused=False)


def test_the_new_password_completes_the_reset() -> None:
    flow = recovery.code_accepted(waiting(), account_id="acct-1", factors=(),
                                  locked_account=False).flow
    result = recovery.password_chosen(flow, password_hash="$argon2id$...")
    assert result.flow.state == COMPLETED
    assert result.effects == (ResetPassword("acct-1", "$argon2id$...", ("email_code",)),)
    assert SPEC.public_data(result.flow, (), Policies()) == {"locked": False}
    assert SPEC.methods(result.flow) == ()


def test_a_locked_account_hears_it_stays_locked_only_at_the_end() -> None:
    flow = recovery.code_accepted(waiting(), account_id="acct-1", factors=(),
                                  locked_account=True).flow
    assert "locked" not in str(SPEC.public_data(flow, SPEC.methods(flow), Policies()))
    done = recovery.password_chosen(flow, password_hash="h").flow
    assert SPEC.public_data(done, (), Policies()) == {"locked": True}
    assert "stays locked" in done.messages[0].text
