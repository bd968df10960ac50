"""keepgate.services.methods.totp: each authenticator code works once, as sign-in's or
step-up's second factor; enrolment keeps the secret in the flow until a code proves it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.audit import Outcome
from keepgate.domain.errors import (
    CurrentPasswordIncorrect,
    FactorAlreadyEnrolled,
    InvalidCode,
    MalformedCode,
    PasswordReentryRequired,
    TotpNotStarted,
)
from keepgate.domain.factors import Factor, FactorKind
from keepgate.flows.base import (
    COMPLETED,
    CreateFactor,
    ElevateSession,
    IssueSession,
    NotifyAccount,
    RecordEvent,
)
from keepgate.flows.settings import pending_totp
from keepgate.security import totp
from keepgate.security.keyring import KeyRing
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import FactorSubmission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.second_factor import SignInFinish, StepUpFinish
from keepgate.services.methods.totp import (
    TotpCheck,
    TotpEnrolment,
    pending_totp_data,
    verify_totp,
)
from tests.unit.services.methods.conftest import (
    ANN_PASSWORD,
    add_factor,
    in_settings,
    signing_in,
    stepping_up,
)
from tests.unit.services.records import IP, USER_AGENT, audit_events

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
SEED = totp.new_secret()


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing([b"k" * 32])


@pytest.fixture
async def factor(store: SqlStore, ann: Account, keyring: KeyRing, clock: FrozenClock) -> Factor:
    return await add_factor(store, clock, ann, FactorKind.TOTP,
                            secret=keyring.encrypt(SEED.encode(), context="totp:fac-totp"))


def current(clock: FrozenClock) -> str:
    return totp.code_at(SEED, totp.step_of(clock.now()))


async def test_a_code_works_once(store: SqlStore, keyring: KeyRing, factor: Factor,
                                 clock: FrozenClock) -> None:
    assert (await verify_totp(store, keyring, [factor], current(clock), clock.now())).id == \
        factor.id
    with pytest.raises(InvalidCode):
        await verify_totp(store, keyring, [factor], current(clock), clock.now())


async def test_a_malformed_code_is_refused_unchecked(store: SqlStore, keyring: KeyRing,
                                                    factor: Factor, clock: FrozenClock) -> None:
    with pytest.raises(MalformedCode):
        await verify_totp(store, keyring, [factor], "12ab56", clock.now())


async def test_sign_in_and_step_up_share_the_check(
        attempts: SignInAttempts, keyring: KeyRing, device_codes: NewDeviceCodes,
        ann: Account, factor: Factor, clock: FrozenClock) -> None:
    signing = TotpCheck(attempts, SignInFinish(device_codes), keyring=keyring)
    done = await signing.step(signing_in(clock, ann), FactorSubmission(code=current(clock)),
                              OWNER, clock.now())
    assert done.flow.state == COMPLETED
    assert any(isinstance(e, IssueSession) for e in done.effects)
    clock.advance(timedelta(seconds=30))
    stepping = TotpCheck(attempts, StepUpFinish(), keyring=keyring)
    elevated = await stepping.step(stepping_up(clock, ann), FactorSubmission(code=current(clock)),
                                   OWNER, clock.now())
    assert any(isinstance(e, ElevateSession) for e in elevated.effects)


async def test_a_wrong_code_fails_the_step(attempts: SignInAttempts, keyring: KeyRing,
                                           device_codes: NewDeviceCodes, ann: Account,
                                           factor: Factor, clock: FrozenClock) -> None:
    method = TotpCheck(attempts, SignInFinish(device_codes), keyring=keyring)
    wrong = "000000" if current(clock) != "000000" else "111111"
    result = await method.step(signing_in(clock, ann), FactorSubmission(code=wrong), OWNER,
                               clock.now())
    assert isinstance(result.error, InvalidCode)


async def test_enrolment_confirms_the_secret_with_a_code(store: SqlStore, keyring: KeyRing,
                                                        reauth: PasswordReauth, ann: Account,
                                                        clock: FrozenClock) -> None:
    method = TotpEnrolment(store, reauth=reauth, keyring=keyring)
    flow = in_settings(clock, ann)
    with pytest.raises(TotpNotStarted):
        await method.step(flow, FactorSubmission(code="123456", password=ANN_PASSWORD), OWNER,
                          clock.now())
    started = (await method.step(flow, FactorSubmission(), OWNER, clock.now())).flow
    secret = pending_totp_data(keyring, started)["secret"]
    code = totp.code_at(secret, totp.step_of(clock.now()))
    with pytest.raises(PasswordReentryRequired):
        await method.step(started, FactorSubmission(code=code), OWNER, clock.now())
    with pytest.raises(CurrentPasswordIncorrect):
        await method.step(started, FactorSubmission(code=code, password="not it"), OWNER,
                          clock.now())
    added = await method.step(started, FactorSubmission(code=code, password=ANN_PASSWORD),
                              OWNER, clock.now())
    created = next(e for e in added.effects if isinstance(e, CreateFactor))
    assert created.first and created.factor.kind is FactorKind.TOTP
    assert pending_totp(added.flow) is None


async def test_a_second_authenticator_is_refused(store: SqlStore, keyring: KeyRing,
                                                 reauth: PasswordReauth, ann: Account,
                                                 factor: Factor, clock: FrozenClock) -> None:
    with pytest.raises(FactorAlreadyEnrolled):
        await TotpEnrolment(store, reauth=reauth, keyring=keyring).step(
            in_settings(clock, ann), FactorSubmission(), OWNER, clock.now())


async def test_a_replayed_code_is_recorded_as_a_replay_and_the_owner_is_told(
        store: SqlStore, attempts: SignInAttempts, keyring: KeyRing, device_codes: NewDeviceCodes,
        ann: Account, factor: Factor, clock: FrozenClock) -> None:
    check = TotpCheck(attempts, SignInFinish(device_codes), keyring=keyring)
    code = current(clock)
    await check.step(signing_in(clock, ann), FactorSubmission(code=code), OWNER, clock.now())
    replayed = await check.step(signing_in(clock, ann), FactorSubmission(code=code), OWNER,
                                clock.now())
    assert isinstance(replayed.error, InvalidCode)  # the same answer as a wrong code
    assert not any(isinstance(e, RecordEvent) for e in replayed.effects)  # audited at once
    [event] = [e for e in await audit_events(store) if e.outcome is Outcome.FAILURE]
    assert (event.outcome, event.details["reason"]) == (Outcome.FAILURE, "totp_replayed")
    [notice] = [e for e in replayed.effects if isinstance(e, NotifyAccount)]
    assert (notice.account_id, notice.template) == (ann.id, "totp_replayed")
    wrong = "000000" if current(clock) != "000000" else "111111"
    refused = await check.step(signing_in(clock, ann), FactorSubmission(code=wrong), OWNER,
                               clock.now())
    assert [e.details["reason"] for e in await audit_events(store)
            if e.outcome is Outcome.FAILURE] == ["totp_replayed", "totp_failed"]
    assert not any(isinstance(e, NotifyAccount) for e in refused.effects)
