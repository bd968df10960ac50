"""keepgate.services.methods.device_code: the new-device code names what signed in and links
to "this wasn't me"; entering it completes the sign-in and trusts the device."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.domain.accounts import Account
from keepgate.domain.errors import ResendTooSoon
from keepgate.flows import login
from keepgate.flows.base import COMPLETED, IssueSession, SendToContact, SettleAttempt
from keepgate.security.codes import CodeDigester
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import FactorSubmission
from keepgate.services.methods.device_code import DeviceCodeCheck, NewDeviceCodes
from keepgate.services.methods.sent_code import SentCodes
from tests.unit.services.methods.conftest import LIFETIME, signing_in

pytestmark = pytest.mark.anyio

NEW_DEVICE = RequestContext(ip="198.51.100.66", user_agent="curl/8.5.0")


async def test_the_message_says_what_signed_in(device_codes: NewDeviceCodes,
                                               digester: CodeDigester, ann: Account,
                                               clock: FrozenClock) -> None:
    flow = signing_in(clock, ann)
    message, digest = device_codes.message(flow, ann, NEW_DEVICE, clock.now())
    assert message.template == "device_code" and message.to == ann.contact
    assert message.params["ip"] == NEW_DEVICE.ip and message.params["minutes"] == 10
    assert str(message.params["not_me_url"]).startswith("https://keepgate.example/not-me?token=")
    digester.verify(digest, str(message.params["code"]), purpose="device", binding=flow.id)


async def test_the_code_completes_and_trusts_the_device(
        attempts: SignInAttempts, codes: SentCodes, device_codes: NewDeviceCodes, ann: Account,
        clock: FrozenClock) -> None:
    flow = signing_in(clock, ann)
    message, digest = device_codes.message(flow, ann, NEW_DEVICE, clock.now())
    waiting = login.second_factor_passed(
        flow, method="totp", device_trusted=False, device_code=message, code_digest=digest,
        now=clock.now(), code_lifetime=LIFETIME).flow
    assert waiting.state == login.AWAITING_DEVICE_CODE
    method = DeviceCodeCheck(attempts, codes=codes, device_codes=device_codes)
    done = await method.step(waiting, FactorSubmission(code=str(message.params["code"])),
                             NEW_DEVICE, clock.now())
    assert done.flow.state == COMPLETED
    issued = next(e for e in done.effects if isinstance(e, IssueSession))
    assert issued.trust_device
    assert SettleAttempt(ann.id, None, completed=True) in done.effects


async def test_a_resend_waits_for_the_cooldown(attempts: SignInAttempts, codes: SentCodes,
                                               device_codes: NewDeviceCodes, ann: Account,
                                               clock: FrozenClock) -> None:
    flow = signing_in(clock, ann)
    message, digest = device_codes.message(flow, ann, NEW_DEVICE, clock.now())
    waiting = login.second_factor_passed(
        flow, method="totp", device_trusted=False, device_code=message, code_digest=digest,
        now=clock.now(), code_lifetime=LIFETIME).flow
    method = DeviceCodeCheck(attempts, codes=codes, device_codes=device_codes)
    with pytest.raises(ResendTooSoon):
        await method.step(waiting, FactorSubmission(action="resend"), NEW_DEVICE, clock.now())
    clock.advance(timedelta(minutes=1))
    again = await method.step(waiting, FactorSubmission(action="resend"), NEW_DEVICE,
                              clock.now())
    assert [e.template for e in again.effects if isinstance(e, SendToContact)] == ["device_code"]
