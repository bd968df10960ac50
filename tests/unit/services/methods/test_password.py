"""keepgate.services.methods.password: the password check, sign-in's first factor (read once,
reserved before the hash, settled with the flow) and registration's password."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql import tables
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.audit import AuditEvent, EventKind
from keepgate.domain.errors import InvalidCredentials, TermsNotAccepted
from keepgate.domain.policy import PasswordPolicy
from keepgate.flows import login, registration
from keepgate.flows.base import COMPLETED, Channel, RecordEvent, SettleAttempt, StepResult
from keepgate.security.passwords import HashParams, PasswordHasher
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.defences import SignInDefences
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.base import PasswordSubmission
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.password import (
    PasswordSignIn,
    RegistrationPassword,
    verify_password,
)
from keepgate.services.methods.sent_code import SentCodes
from keepgate.services.methods.webauthn import Challenges
from tests.unit.services.methods.conftest import ANN, LIFETIME
from tests.unit.services.records import IP, USER_AGENT, audit_events, column_values

pytestmark = pytest.mark.anyio

PASSWORD = "quartz lantern mango tribune"
OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
STRANGER = RequestContext(ip="198.51.100.66", user_agent="curl/8.5.0")


@pytest.fixture
def hasher() -> AsyncPasswordHasher:
    return AsyncPasswordHasher(PasswordHasher(HashParams(memory_kib=8, time_cost=1,
                                                         parallelism=1)))


@pytest.fixture
async def with_password(store: SqlStore, ann: Account, hasher: AsyncPasswordHasher) -> Account:
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.set_password_hash(ann.id, await hasher.hash(PASSWORD))
    return ann


@pytest.fixture
def sign_in(attempts: SignInAttempts, hasher: AsyncPasswordHasher, captcha: CaptchaGate,
            challenges: Challenges, device_codes: NewDeviceCodes) -> PasswordSignIn:
    return PasswordSignIn(attempts, hasher=hasher, captcha=captcha, challenges=challenges,
                          device_codes=device_codes)


async def submit(method: PasswordSignIn, clock: FrozenClock, password: str,
                 ctx: RequestContext = OWNER, identifier: str = ANN) -> StepResult:
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    return await method.step(flow, PasswordSubmission(identifier, password), ctx, clock.now())


async def test_verify_password_passes_or_raises(hasher: AsyncPasswordHasher) -> None:
    stored = await hasher.hash(PASSWORD)
    await verify_password(hasher, stored, PASSWORD)
    with pytest.raises(InvalidCredentials):
        await verify_password(hasher, stored, "quartz lantern mango tribunal")


async def test_no_hash_checks_the_dummy_and_fails(hasher: AsyncPasswordHasher) -> None:
    with pytest.raises(InvalidCredentials):
        await verify_password(hasher, None, PASSWORD)


async def test_a_trusted_device_signs_in_and_settles_with_the_flow(
        sign_in: PasswordSignIn, with_password: Account, clock: FrozenClock,
        database_url: str) -> None:
    result = await submit(sign_in, clock, PASSWORD)
    assert result.error is None and result.flow.state == COMPLETED
    assert SettleAttempt(with_password.id, "dev-1", completed=True) in result.effects
    # Reserved in its own committed write; the settlement is left to the flow's save.
    assert await column_values(database_url, tables.trusted_devices.c.pending) == [1]
    assert await column_values(database_url, tables.trusted_devices.c.failed_logins) == [0]


async def test_read_in_the_runners_unit_of_work_gives_the_same_step(
        sign_in: PasswordSignIn, with_password: Account, clock: FrozenClock,
        store: SqlStore) -> None:
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    async with store.unit_of_work(write=False) as uow:
        bound = await sign_in.read(uow, flow, PasswordSubmission(ANN, PASSWORD), OWNER,
                                   clock.now())
    assert (await bound()).flow.state == COMPLETED


async def test_a_new_device_is_sent_a_code(sign_in: PasswordSignIn, with_password: Account,
                                           clock: FrozenClock) -> None:
    result = await submit(sign_in, clock, PASSWORD, STRANGER)
    assert result.flow.state == login.AWAITING_DEVICE_CODE
    assert [e.template for e in result.effects if hasattr(e, "template")] == ["device_code"]
    assert SettleAttempt(with_password.id, None, completed=False) in result.effects


async def failure_recorded(store: SqlStore, result: StepResult) -> AuditEvent:
    """The refused attempt's audit event: written with the failure it counted, not left to
    the flow's save."""
    assert not any(isinstance(e, RecordEvent) for e in result.effects)
    [event] = [e for e in await audit_events(store) if e.kind is EventKind.LOGIN]
    return event


async def test_a_wrong_password_is_counted_and_refused(
        store: SqlStore, sign_in: PasswordSignIn, with_password: Account, clock: FrozenClock,
        database_url: str) -> None:
    result = await submit(sign_in, clock, "quartz lantern mango tribunal", STRANGER)
    assert isinstance(result.error, InvalidCredentials)
    event = await failure_recorded(store, result)
    assert (event.kind, event.details["reason"]) == (EventKind.LOGIN, "wrong_password")
    assert await column_values(database_url, tables.accounts.c.failed_logins) == [1]


async def test_an_unknown_identifier_answers_alike(store: SqlStore, sign_in: PasswordSignIn,
                                                  ann: Account, clock: FrozenClock) -> None:
    result = await submit(sign_in, clock, PASSWORD, STRANGER, identifier="nobody@example.com")
    assert isinstance(result.error, InvalidCredentials)
    event = await failure_recorded(store, result)
    assert event.details["reason"] == "unknown_account"


async def test_registration_wants_the_terms(store: SqlStore, hasher: AsyncPasswordHasher,
                                            codes: SentCodes, defences: SignInDefences,
                                            captcha: CaptchaGate, clock: FrozenClock) -> None:
    method = RegistrationPassword(store, hasher=hasher, codes=codes, policy=PasswordPolicy(),
                                  throttle=defences.throttle, captcha=captcha)
    flow = registration.start("flow-r", Channel.API, clock.now(), LIFETIME)
    with pytest.raises(TermsNotAccepted):
        await method.step(flow, PasswordSubmission("new@example.com", PASSWORD), STRANGER,
                          clock.now())
    done = await method.step(flow, PasswordSubmission("new@example.com", PASSWORD, True),
                             STRANGER, clock.now())
    assert done.flow.state == registration.AWAITING_CODE
