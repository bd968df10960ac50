"""keepgate.services.methods.sent_code: codes we deliver by SMS or email, as second factors,
in enrolment and in registration, all checked by ``verify_sent_code``."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.errors import (
    CodeNotSent,
    FactorAlreadyEnrolled,
    InvalidCode,
    MalformedCode,
)
from keepgate.domain.factors import FactorKind
from keepgate.flows import registration
from keepgate.flows.base import COMPLETED, Channel, CreateFactor, SendToContact
from keepgate.flows.context import sent_code
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import CodeSubmission, FactorSubmission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.second_factor import SignInFinish
from keepgate.services.methods.sent_code import (
    RegistrationCode,
    SentCodes,
    SmsCodeCheck,
    SmsCodeEnrolment,
    verify_sent_code,
)
from keepgate.services.send_budget import Sender
from keepgate.services.sent_codes import CodeSlot
from tests.unit.services.methods.conftest import (
    ANN_PASSWORD,
    LIFETIME,
    PHONE,
    add_factor,
    in_settings,
    signing_in,
)
from tests.unit.services.records import IP, USER_AGENT

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")


def sent(result_effects: tuple[object, ...]) -> SendToContact:
    return next(e for e in result_effects if isinstance(e, SendToContact))


async def test_verify_spends_the_code(codes: SentCodes, ann: Account,
                                      clock: FrozenClock) -> None:
    slot = CodeSlot("sms_code", "sign-in-sms", LIFETIME)
    flow = signing_in(clock, ann)
    code, digest = slot.new(codes.digester, flow, codes.policy)
    flow = (await slot.send(codes.budget, codes.policy, flow, ann.contact, clock.now(),
                            message=None, digest=digest,
                            sender=Sender(account_id=ann.id, ip=IP))).flow
    spent = verify_sent_code(codes, slot, flow, code, clock.now())
    with pytest.raises(InvalidCode):
        verify_sent_code(codes, slot, spent, code, clock.now())


async def test_sms_as_a_second_factor(attempts: SignInAttempts, codes: SentCodes,
                                      device_codes: NewDeviceCodes, ann: Account,
                                      clock: FrozenClock) -> None:
    method = SmsCodeCheck(attempts, SignInFinish(device_codes), codes=codes, lifetime=LIFETIME)
    flow = signing_in(clock, ann, "sms_code")
    with pytest.raises(CodeNotSent):
        await method.step(flow, FactorSubmission(code="123456"), OWNER, clock.now())
    asked = await method.step(flow, FactorSubmission(action="send"), OWNER, clock.now())
    message = sent(asked.effects)
    assert message.to.value == PHONE and sent_code(asked.flow, "sms_code").sent
    malformed = await method.step(asked.flow, FactorSubmission(code="12"), OWNER, clock.now())
    assert isinstance(malformed.error, MalformedCode)
    done = await method.step(asked.flow, FactorSubmission(code=str(message.params["code"])),
                             OWNER, clock.now())
    assert done.flow.state == COMPLETED


async def test_a_wrong_code_is_counted_on_the_slot(attempts: SignInAttempts, codes: SentCodes,
                                                   device_codes: NewDeviceCodes, ann: Account,
                                                   clock: FrozenClock) -> None:
    method = SmsCodeCheck(attempts, SignInFinish(device_codes), codes=codes, lifetime=LIFETIME)
    asked = await method.step(signing_in(clock, ann, "sms_code"), FactorSubmission(action="send"),
                              OWNER, clock.now())
    code = str(sent(asked.effects).params["code"])
    wrong = "000000" if code != "000000" else "111111"
    failed = await method.step(asked.flow, FactorSubmission(code=wrong), OWNER, clock.now())
    assert isinstance(failed.error, InvalidCode)
    assert sent_code(failed.flow, "sms_code").failures == 1


async def test_enrolment_confirms_the_number(store: SqlStore, codes: SentCodes,
                                             reauth: PasswordReauth, ann: Account,
                                             clock: FrozenClock) -> None:
    method = SmsCodeEnrolment(store, reauth=reauth, codes=codes)
    asked = await method.step(in_settings(clock, ann), FactorSubmission(action="send"), OWNER,
                              clock.now())
    wrong = await method.step(asked.flow, FactorSubmission(code="000000", password=ANN_PASSWORD),
                              OWNER, clock.now())
    assert isinstance(wrong.error, InvalidCode)
    added = await method.step(asked.flow, FactorSubmission(
        code=str(sent(asked.effects).params["code"]), password=ANN_PASSWORD), OWNER, clock.now())
    created = next(e for e in added.effects if isinstance(e, CreateFactor))
    assert created.factor.kind is FactorKind.SMS_CODE and created.factor.destination == PHONE


async def test_enrolment_refuses_a_second_sms_factor(store: SqlStore, codes: SentCodes,
                                                     reauth: PasswordReauth, ann: Account,
                                                     clock: FrozenClock) -> None:
    await add_factor(store, clock, ann, FactorKind.SMS_CODE, destination=PHONE)
    with pytest.raises(FactorAlreadyEnrolled):
        await SmsCodeEnrolment(store, reauth=reauth, codes=codes).step(
            in_settings(clock, ann), FactorSubmission(action="send"), OWNER, clock.now())


async def test_registration_code_must_be_digits(codes: SentCodes, clock: FrozenClock) -> None:
    flow = registration.start("flow-r", Channel.API, clock.now(), LIFETIME)
    with pytest.raises(MalformedCode, match="we sent you"):
        await RegistrationCode(codes).step(flow, CodeSubmission(code="abc"), OWNER, clock.now())
