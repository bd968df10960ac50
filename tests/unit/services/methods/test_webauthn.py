"""keepgate.services.methods.webauthn: passkeys and security keys enrolled and then proven,
as a second factor and alone (passwordless), against single-use challenges."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.audit import Outcome
from keepgate.domain.errors import InvalidFactorResponse, WebAuthnChallengeExpired
from keepgate.domain.factors import Factor
from keepgate.flows import login
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    CreateFactor,
    Flow,
    NotifyAccount,
    RecordEvent,
    StepResult,
)
from keepgate.flows.context import webauthn_options
from keepgate.security import webauthn
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import FactorSubmission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.second_factor import SignInFinish
from keepgate.services.methods.webauthn import (
    Challenges,
    UserHandles,
    WebAuthnCheck,
    WebAuthnEnrolment,
    pending_challenge,
    stored_credential,
)
from tests.support.soft_authenticator import SoftAuthenticator
from tests.unit.services.methods.conftest import (
    ANN_PASSWORD,
    LIFETIME,
    PARTY,
    in_settings,
    signing_in,
)
from tests.unit.services.records import IP, USER_AGENT, audit_events

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
HANDLES = UserHandles(b"webauthn-user-handle-0123456789ab")


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator()


@pytest.fixture
def check(attempts: SignInAttempts, challenges: Challenges, captcha: CaptchaGate,
          device_codes: NewDeviceCodes) -> WebAuthnCheck:
    return WebAuthnCheck(attempts, SignInFinish(device_codes), challenges=challenges,
                         handles=HANDLES, captcha=captcha, device_codes=device_codes)


@pytest.fixture
def enrolment(store: SqlStore, reauth: PasswordReauth) -> WebAuthnEnrolment:
    return WebAuthnEnrolment(store, reauth=reauth, relying_party=PARTY, handles=HANDLES,
                             challenge_lifetime=timedelta(minutes=5))


async def enrol(method: WebAuthnEnrolment, store: SqlStore, authenticator: SoftAuthenticator,
                account: Account, clock: FrozenClock, *, passkey: bool) -> Factor:
    asked = await method.step(in_settings(clock, account), FactorSubmission(passkey=passkey),
                              OWNER, clock.now())
    options: dict[str, Any] = dict(webauthn_options(asked.flow) or {})
    credential = authenticator.create(options, PARTY.origin)
    added = await method.step(asked.flow, FactorSubmission(credential=credential, name="Key",
                                                           password=ANN_PASSWORD),
                              OWNER, clock.now())
    factor = next(e for e in added.effects if isinstance(e, CreateFactor)).factor
    async with store.unit_of_work(write=True) as uow:
        await uow.factors.create(factor)
    return factor


def answer(authenticator: SoftAuthenticator, flow: Flow) -> dict[str, object]:
    return authenticator.get(dict(webauthn_options(flow) or {}), PARTY.origin)


def test_user_handles_are_stable_and_opaque() -> None:
    assert HANDLES.of("acc-1") == HANDLES.of("acc-1") != HANDLES.of("acc-2")
    assert b"acc-1" not in HANDLES.of("acc-1")


async def test_a_security_key_as_the_second_factor(
        store: SqlStore, authenticator: SoftAuthenticator, check: WebAuthnCheck,
        enrolment: WebAuthnEnrolment, challenges: Challenges, ann: Account,
        clock: FrozenClock) -> None:
    key = await enrol(enrolment, store, authenticator, ann, clock, passkey=False)
    assert stored_credential(key).credential_id == webauthn.decode_b64url(key.credential_id or "")
    flow = challenges.offer(signing_in(clock, ann, "webauthn"), clock.now(), [key],
                            passwordless=False)
    done = await check.step(flow, FactorSubmission(credential=answer(authenticator, flow)),
                            OWNER, clock.now())
    assert done.error is None and done.flow.state == COMPLETED


async def test_a_spent_or_expired_challenge_is_refused(
        store: SqlStore, authenticator: SoftAuthenticator, check: WebAuthnCheck,
        enrolment: WebAuthnEnrolment, challenges: Challenges, ann: Account,
        clock: FrozenClock) -> None:
    key = await enrol(enrolment, store, authenticator, ann, clock, passkey=False)
    flow = challenges.offer(signing_in(clock, ann, "webauthn"), clock.now(), [key],
                            passwordless=False)
    credential = answer(authenticator, flow)
    clock.advance(timedelta(minutes=6))
    with pytest.raises(WebAuthnChallengeExpired):
        pending_challenge(flow, clock.now())
    late = await check.step(flow, FactorSubmission(credential=credential), OWNER, clock.now())
    assert isinstance(late.error, WebAuthnChallengeExpired)


async def test_no_answer_is_refused(check: WebAuthnCheck, challenges: Challenges,
                                    ann: Account, clock: FrozenClock) -> None:
    flow = challenges.offer(signing_in(clock, ann, "webauthn"), clock.now(), [],
                            passwordless=False)
    result = await check.step(flow, FactorSubmission(), OWNER, clock.now())
    assert isinstance(result.error, InvalidFactorResponse)


async def test_a_passkey_signs_in_alone(store: SqlStore, authenticator: SoftAuthenticator,
                                        check: WebAuthnCheck, enrolment: WebAuthnEnrolment,
                                        ann: Account, clock: FrozenClock) -> None:
    await enrol(enrolment, store, authenticator, ann, clock, passkey=True)
    flow = await check.prepare(login.start("flow-1", Channel.API, clock.now(), LIFETIME),
                               clock.now())
    done = await check.step(flow, FactorSubmission(credential=answer(authenticator, flow)),
                            OWNER, clock.now())
    assert done.error is None and done.flow.state == COMPLETED  # Ann's trusted device


async def cloned_notice(store: SqlStore, result: StepResult,
                        account: Account) -> tuple[str, NotifyAccount]:
    """The refusal's reason, audited with the failure it counted, and the owner's notice."""
    assert not any(isinstance(e, RecordEvent) for e in result.effects)
    [event] = [e for e in await audit_events(store) if e.outcome is Outcome.FAILURE]
    [notice] = [e for e in result.effects if isinstance(e, NotifyAccount)]
    assert notice.account_id == account.id
    return event.details["reason"], notice


async def test_a_cloned_key_is_refused_recorded_and_the_owner_told(
        store: SqlStore, authenticator: SoftAuthenticator, check: WebAuthnCheck,
        enrolment: WebAuthnEnrolment, challenges: Challenges, ann: Account,
        clock: FrozenClock) -> None:
    key = await enrol(enrolment, store, authenticator, ann, clock, passkey=False)
    clone = copy.deepcopy(authenticator)
    flow = challenges.offer(signing_in(clock, ann, "webauthn"), clock.now(), [key],
                            passwordless=False)
    done = await check.step(flow, FactorSubmission(credential=answer(authenticator, flow)),
                            OWNER, clock.now())
    assert done.error is None
    flow = challenges.offer(signing_in(clock, ann, "webauthn"), clock.now(), [key],
                            passwordless=False)
    cloned = await check.step(flow, FactorSubmission(credential=answer(clone, flow)),
                              OWNER, clock.now())
    assert isinstance(cloned.error, InvalidFactorResponse)
    reason, notice = await cloned_notice(store, cloned, ann)
    assert reason == "webauthn_cloned"
    assert (notice.template, notice.params) == ("passkey_cloned", {"factor": "Key", "ip": IP})


async def test_a_cloned_passkey_alone_is_refused_recorded_and_the_owner_told(
        store: SqlStore, authenticator: SoftAuthenticator, check: WebAuthnCheck,
        enrolment: WebAuthnEnrolment, ann: Account, clock: FrozenClock) -> None:
    await enrol(enrolment, store, authenticator, ann, clock, passkey=True)
    clone = copy.deepcopy(authenticator)
    start = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    flow = await check.prepare(start, clock.now())
    await check.step(flow, FactorSubmission(credential=answer(authenticator, flow)), OWNER,
                     clock.now())
    flow = await check.prepare(start, clock.now())
    cloned = await check.step(flow, FactorSubmission(credential=answer(clone, flow)), OWNER,
                              clock.now())
    assert isinstance(cloned.error, InvalidFactorResponse)
    reason, notice = await cloned_notice(store, cloned, ann)
    assert (reason, notice.template) == ("passkey_cloned", "passkey_cloned")
