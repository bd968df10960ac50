"""keepgate.services.decisions: the decision API's service reads the facts once and asks
``domain.access.authorize``; amounts, sessions and unknown accounts are checked first."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.access import Reason
from keepgate.domain.errors import AccountNotFound, AmountTooPrecise, SessionNotFound
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.holds import HoldReason
from keepgate.domain.kyc import DEFAULT_POLICY, Capability, Limit, Tier
from keepgate.domain.sessions import SessionPolicy
from keepgate.services.access import AccessService
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.decisions import DecisionService
from keepgate.services.holds import place_hold
from keepgate.services.limits import LimitService
from tests.unit.services.records import IP, USER_AGENT, add_account, add_session, set_tier

pytestmark = pytest.mark.anyio
W, T = Capability.WITHDRAW, Capability.TRADE


@pytest.fixture
def access(store: SqlStore, clock: FrozenClock) -> AccessService:
    return AccessService(store=store, clock=clock, policy=DefencePolicy(),
                         counters=LimitsWindowCounters.in_memory())


@pytest.fixture
def decisions(store: SqlStore, clock: FrozenClock, access: AccessService) -> DecisionService:
    return DecisionService(store=store, clock=clock, access=access, sessions=SessionPolicy())


@pytest.fixture
async def ann(store: SqlStore, clock: FrozenClock) -> str:
    account = await add_account(store, clock)
    await set_tier(store, account.id, 1)
    return account.id


async def test_a_tier_one_account_may_trade_within_its_limits(
        decisions: DecisionService, store: SqlStore, clock: FrozenClock,
        access: AccessService, ann: str) -> None:
    assert (await decisions.decide(ann, T, "25000")).allowed
    refused = await decisions.decide(ann, T, "25000.01")
    assert refused.reasons == (Reason.LIMIT_EXCEEDED,)
    assert refused.limit_left == Decimal("25000.00")
    limits = LimitService(store=store, clock=clock, access=access)
    await limits.reserve(ann, T, "24000", "order-1")
    left = await decisions.decide(ann, T, "1000.01")
    assert (left.reasons, left.limit_left) == ((Reason.LIMIT_EXCEEDED,), Decimal("1000.00"))


async def test_withdrawals_need_the_customers_confirmed_session(
        decisions: DecisionService, store: SqlStore, clock: FrozenClock, ann: str) -> None:
    assert (await decisions.decide(ann, W, "10")).reasons == (Reason.STEP_UP_REQUIRED,)
    session = await add_session(store, clock, ann, "ann-phone")
    async with store.unit_of_work(write=True) as uow:
        await uow.sessions.elevate(session.id, token_hash="other", aal="aal2",
                                   methods=("password", "totp"), now=clock.now(), strong=True)
    assert (await decisions.decide(ann, W, "10", session_id=session.id)).allowed
    clock.advance(timedelta(minutes=6))
    assert (await decisions.decide(ann, W, "10", session_id=session.id)).reasons == (
        Reason.STEP_UP_REQUIRED,)


async def test_a_session_must_be_the_accounts_and_active(
        decisions: DecisionService, store: SqlStore, clock: FrozenClock, ann: str) -> None:
    other = await add_account(store, clock, "acc-2", email="bob@example.com")
    theirs = await add_session(store, clock, other.id, "bob-phone")
    with pytest.raises(SessionNotFound):
        await decisions.decide(ann, W, session_id=theirs.id)
    with pytest.raises(SessionNotFound):
        await decisions.decide(ann, W, session_id="no-such-session")
    mine = await add_session(store, clock, ann, "ann-phone", lifetime=timedelta(minutes=1))
    clock.advance(timedelta(minutes=2))
    with pytest.raises(SessionNotFound):
        await decisions.decide(ann, W, session_id=mine.id)


async def test_holds_and_tiers_are_named_with_what_goes_with_them(
        decisions: DecisionService, store: SqlStore, clock: FrozenClock, ann: str) -> None:
    async with store.unit_of_work(write=True) as uow:
        hold = await place_hold(uow, ann, HoldReason.EMAIL_CHANGE,
                                RequestContext(ip=IP, user_agent=USER_AGENT), clock.now())
    assert hold.capability is W and hold.cause == "contact.changed"
    held = await decisions.decide(ann, W)
    assert held.reasons == (Reason.HOLD_ACTIVE, Reason.STEP_UP_REQUIRED)
    assert held.hold_until == hold.expires_at
    api = await decisions.decide(ann, Capability.API_ACCESS)
    assert (api.reasons, api.tier_needed) == ((Reason.TIER_TOO_LOW,), 2)
    clock.advance(timedelta(hours=24))
    assert (await decisions.decide(ann, W)).reasons == (Reason.STEP_UP_REQUIRED,)


async def test_the_operators_policy_decides(store: SqlStore, clock: FrozenClock,
                                            ann: str) -> None:
    tight = replace(DEFAULT_POLICY, tiers=(
        DEFAULT_POLICY.tiers[0],
        Tier(1, "Basic", ("Name",), DEFAULT_POLICY.tiers[1].capabilities,
             {c: Limit(Decimal(5), Decimal(10)) for c in (W, T, Capability.DEPOSIT)})))
    access = AccessService(store=store, clock=clock, policy=DefencePolicy(),
                           counters=LimitsWindowCounters.in_memory(), tiers=tight)
    decisions = DecisionService(store=store, clock=clock, access=access,
                                sessions=SessionPolicy())
    assert (await decisions.decide(ann, T, "6")).reasons == (Reason.LIMIT_EXCEEDED,)


async def test_bad_questions(decisions: DecisionService, ann: str) -> None:
    with pytest.raises(AccountNotFound):
        await decisions.decide("acc-9", T)
    with pytest.raises(AmountTooPrecise):
        await decisions.decide(ann, T, "1.001")
    assert (await decisions.decide(ann, Capability.VIEW_MARKETS)).allowed
