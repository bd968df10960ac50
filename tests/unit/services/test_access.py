"""keepgate.services.access: the facts come from the store in one read, the decision from
``domain.access.authorize``, and a refusal raises today's public errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.access import REASON_TEXT, Action, Reason
from keepgate.domain.audit import Actor, EventKind
from keepgate.domain.errors import (
    AccessDenied,
    FreshSignInRequired,
    SecondFactorRequired,
    StepUpRequired,
    StrongFactorRequired,
)
from keepgate.domain.factors import DefencePolicy, Factor, FactorKind
from keepgate.domain.holds import HoldReason
from keepgate.domain.principals import CustomerSession, ServiceClient
from keepgate.services.access import NO_FACTS, AccessService
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.holds import place_hold
from tests.unit.services.records import IP, USER_AGENT, add_account, add_session, audit_events

pytestmark = pytest.mark.anyio
CTX = RequestContext(ip=IP, user_agent=USER_AGENT)


@pytest.fixture
def access(store: SqlStore, clock: FrozenClock) -> AccessService:
    return AccessService(store=store, clock=clock, policy=DefencePolicy(),
                         counters=LimitsWindowCounters.in_memory())


@pytest.fixture
async def ann(store: SqlStore, clock: FrozenClock) -> CustomerSession:
    account = await add_account(store, clock)
    return CustomerSession(await add_session(store, clock, account.id, "ann-phone"), account)


async def add_factor(store: SqlStore, clock: FrozenClock, *, confirmed: bool = True,
                     kind: FactorKind = FactorKind.TOTP) -> None:
    factor = Factor(id=f"fac-{kind.value}", account_id="acc-1", kind=kind, label="",
                    created_at=clock.now(), confirmed_at=clock.now() if confirmed else None)
    async with store.unit_of_work(write=True) as uow:
        await uow.factors.create(factor)


async def test_the_facts_are_read_from_the_store(access: AccessService, store: SqlStore,
                                                 clock: FrozenClock,
                                                 ann: CustomerSession) -> None:
    await add_factor(store, clock)
    async with store.unit_of_work(write=True) as uow:
        hold = await place_hold(uow, "acc-1", HoldReason.PASSWORD_CHANGE,
                                RequestContext(ip=IP, user_agent=USER_AGENT), clock.now())
    facts = await access.facts(ann)
    assert facts.has_second_factor and facts.has_strong_factor
    assert facts.holds == (hold,)
    assert (facts.kyc_tier, facts.locked) == (0, False)
    assert facts.session_created_at == ann.session.created_at
    assert facts.second_factor_at is None and facts.strong_factor_at is None
    assert facts.assurance == ann.session.aal


async def test_an_unconfirmed_factor_is_no_second_factor(
        access: AccessService, store: SqlStore, clock: FrozenClock,
        ann: CustomerSession) -> None:
    await add_factor(store, clock, confirmed=False)
    assert not (await access.facts(ann)).has_second_factor


async def test_a_principal_without_an_account_has_no_facts(access: AccessService) -> None:
    assert await access.facts(ServiceClient("ledger", frozenset())) is NO_FACTS


async def test_step_up_is_required_with_a_factor_not_proven(
        access: AccessService, store: SqlStore, clock: FrozenClock,
        ann: CustomerSession) -> None:
    await add_factor(store, clock)
    with pytest.raises(StepUpRequired) as raised:
        await access.require(ann, Action.REMOVE_FACTOR, CTX)
    assert raised.value.code == "step_up_required"
    assert raised.value.details == {"step_up": {"start": "POST /api/v1/flows/step_up",
                                                "page": "/account/step-up",
                                                "valid_for_seconds": 300}}
    weak = replace(ann, session=replace(ann.session, second_factor_at=clock.now()))
    with pytest.raises(StrongFactorRequired):
        await access.require(weak, Action.REMOVE_FACTOR, CTX)
    proven = replace(ann, session=replace(ann.session, second_factor_at=clock.now(),
                                          strong_factor_at=clock.now()))
    await access.require(proven, Action.REMOVE_FACTOR, CTX)


async def test_a_fresh_sign_in_is_required_without_a_factor(
        access: AccessService, clock: FrozenClock, ann: CustomerSession) -> None:
    await access.require(ann, Action.ADD_FACTOR, CTX)
    clock.advance(timedelta(minutes=16))
    with pytest.raises(FreshSignInRequired) as raised:
        await access.require(ann, Action.ADD_FACTOR, CTX)
    assert raised.value.code == "fresh_sign_in_required"


async def test_other_refusals_name_their_reasons(access: AccessService,
                                                 ann: CustomerSession) -> None:
    with pytest.raises(AccessDenied) as raised:
        await access.require(ann, Action.WITHDRAW, CTX)
    assert raised.value.code == "access.denied"
    assert raised.value.details["reasons"] == [Reason.TIER_TOO_LOW.value,
                                               Reason.STEP_UP_REQUIRED.value]
    assert raised.value.details["decision"][0] == {
        "code": "tier_too_low", "message": REASON_TEXT[Reason.TIER_TOO_LOW], "tier_needed": 1}
    decision = await access.decide(ann, Action.VIEW_MARKETS)
    assert decision.allowed


async def test_an_email_code_is_no_strong_factor(access: AccessService, store: SqlStore,
                                                 clock: FrozenClock,
                                                 ann: CustomerSession) -> None:
    await add_factor(store, clock, kind=FactorKind.EMAIL_CODE)
    facts = await access.facts(ann)
    assert facts.has_second_factor and not facts.has_strong_factor
    proven = replace(ann, session=replace(ann.session, second_factor_at=clock.now()))
    with pytest.raises(SecondFactorRequired) as raised:
        await access.require(proven, Action.CHANGE_PASSWORD, CTX)
    assert raised.value.code == "second_factor_required"
    await access.require(proven, Action.ADD_FACTOR, CTX)  # adding the first strong one


async def test_a_refusal_is_audited_once_a_minute_per_session_and_action(
        access: AccessService, store: SqlStore, clock: FrozenClock,
        ann: CustomerSession) -> None:
    await add_factor(store, clock)
    for _ in range(3):
        with pytest.raises(StepUpRequired):
            await access.require(ann, Action.REMOVE_FACTOR, CTX)
    with pytest.raises(StepUpRequired):
        await access.require(ann, Action.CHANGE_PASSWORD, CTX)
    denied = [e for e in await audit_events(store) if e.kind is EventKind.ACCESS_DENIED]
    assert 2 <= len(denied) <= 3  # fixed windows: a minute's edge may fall in between
    first = denied[0]
    assert (first.account_id, first.ip, first.user_agent) == ("acc-1", IP, USER_AGENT)
    assert first.acted_by == Actor.customer("acc-1")
    assert first.details == {"action": "remove_factor", "reasons": ["step_up_required"],
                             "session_id": ann.session.id}
    assert denied[-1].details["action"] == "change_password"
