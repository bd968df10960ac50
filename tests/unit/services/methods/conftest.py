"""What the method tests build on: the defences, the send budget and the code digests over a
fresh SQLite store, and flows standing where each method is open."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keepgate.adapters.replay import MemoryReplayGuard
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.factors import FACTOR_LABELS, Factor, FactorKind
from keepgate.domain.policy import CodePolicy
from keepgate.flows import login, settings, step_up
from keepgate.flows.base import Channel, Flow
from keepgate.security.captcha import CaptchaIssuer
from keepgate.security.codes import CodeDigester
from keepgate.security.link_tokens import LinkSigner
from keepgate.security.passwords import HashParams, PasswordHasher
from keepgate.security.webauthn import RelyingParty
from keepgate.services.account.reauth import PasswordReauth
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import FrozenClock
from keepgate.services.defences import SignInDefences
from keepgate.services.hashing import AsyncPasswordHasher
from keepgate.services.methods.attempts import SignInAttempts
from keepgate.services.methods.device_code import NewDeviceCodes
from keepgate.services.methods.sent_code import SentCodes
from keepgate.services.methods.webauthn import Challenges
from keepgate.services.send_budget import SendBudget
from tests.unit.services.records import add_account, add_device
from tests.unit.services.test_defences import make_defences

ANN = "ann@example.com"
PHONE = "+447700900123"
ANN_PASSWORD = "quartz lantern mango tribune"
LIFETIME = timedelta(minutes=15)
PARTY = RelyingParty(id="keepgate.example", name="Keepgate", origin="https://keepgate.example")


@pytest.fixture
def defences(store: SqlStore, clock: FrozenClock) -> SignInDefences:
    return make_defences(store, clock)


@pytest.fixture
def hasher() -> AsyncPasswordHasher:
    return AsyncPasswordHasher(PasswordHasher(HashParams(memory_kib=8, time_cost=1,
                                                         parallelism=1)))


@pytest.fixture
def reauth(store: SqlStore, clock: FrozenClock, defences: SignInDefences,
           hasher: AsyncPasswordHasher) -> PasswordReauth:
    return PasswordReauth(store=store, clock=clock, hasher=hasher, defences=defences)


@pytest.fixture
def budget(store: SqlStore, clock: FrozenClock) -> SendBudget:
    return SendBudget(store=store, clock=clock, key=b"send-budget-key-0123456789abcdef",
                      limit=5)


@pytest.fixture
def attempts(store: SqlStore, defences: SignInDefences, budget: SendBudget) -> SignInAttempts:
    return SignInAttempts(store=store, defences=defences, budget=budget)


@pytest.fixture
def digester() -> CodeDigester:
    return CodeDigester(b"one-time-codes-key-0123456789abc")


@pytest.fixture
def codes(digester: CodeDigester, budget: SendBudget) -> SentCodes:
    return SentCodes(digester=digester, policy=CodePolicy(), budget=budget)


@pytest.fixture
def device_codes(digester: CodeDigester) -> NewDeviceCodes:
    return NewDeviceCodes(digester=digester, digits=6, lifetime=timedelta(minutes=10),
                          signer=LinkSigner(b"signed-links-key-0123456789abcdef"),
                          public_url="https://keepgate.example")


@pytest.fixture
def captcha(defences: SignInDefences, clock: FrozenClock) -> CaptchaGate:
    return CaptchaGate(issuer=CaptchaIssuer(b"captcha-key-0123456789abcdef0123", max_number=1000,
                                            lifetime=LIFETIME),
                       guard=MemoryReplayGuard(clock.now), throttle=defences.throttle,
                       clock=clock)


@pytest.fixture
def challenges() -> Challenges:
    return Challenges(PARTY, timedelta(minutes=5))


@pytest.fixture
async def ann(store: SqlStore, clock: FrozenClock, hasher: AsyncPasswordHasher) -> Account:
    account = await add_account(store, clock, email=ANN, phone=PHONE)
    await add_device(store, clock, account.id, "ann-device")
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.set_password_hash(account.id, await hasher.hash(ANN_PASSWORD))
        return await uow.accounts.get(account.id) or account


def signing_in(clock: FrozenClock, account: Account, *factors: str) -> Flow:
    """A sign-in past Ann's password, waiting for her second factor."""
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    return login.first_factor_passed(
        flow.with_context(identifier_value=ANN), account_id=account.id, method="password",
        masked_identifier="a***@example.com", factors=factors or ("totp",),
        device_trusted=True, device_code=None, code_digest=None, now=clock.now(),
        code_lifetime=LIFETIME).flow


def stepping_up(clock: FrozenClock, account: Account, *factors: str) -> Flow:
    return step_up.start("flow-2", Channel.API, clock.now(), LIFETIME, account_id=account.id,
                         session_id="ses-1", factors=factors or ("totp",))


def in_settings(clock: FrozenClock, account: Account) -> Flow:
    return settings.start("flow-3", Channel.API, clock.now(), LIFETIME, account_id=account.id,
                          session_id="ses-1", account_name=ANN)


async def add_factor(store: SqlStore, clock: FrozenClock, account: Account, kind: FactorKind,
                     **fields: Any) -> Factor:
    factor = Factor(id=f"fac-{kind.value}", account_id=account.id, kind=kind,
                    label=FACTOR_LABELS[kind], created_at=clock.now(), confirmed_at=clock.now(),
                    **fields)
    async with store.unit_of_work(write=True) as uow:
        await uow.factors.create(factor)
    return factor
