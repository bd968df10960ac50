"""keepgate.services.methods.attempts and second_factor: what an attempt is judged on is read
together; a refused attempt is counted; a passed one is settled with the flow it moves on."""

from __future__ import annotations

import pytest

from keepgate.adapters.sql import tables
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.errors import SendLimitReached
from keepgate.domain.factors import FactorKind
from keepgate.flows import login
from keepgate.flows.base import Channel, SendToContact, SettleAttempt
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.methods.attempts import SignInAttempts, Standing
from keepgate.services.ports import UnitOfWork
from keepgate.services.send_budget import SendBudget
from tests.unit.services.methods.conftest import ANN, LIFETIME, PHONE, add_factor
from tests.unit.services.records import IP, USER_AGENT, column_values

pytestmark = pytest.mark.anyio

OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
STRANGER = RequestContext(ip="198.51.100.66", user_agent="curl/8.5.0")


async def standing_of(attempts: SignInAttempts, account: Account, ctx: RequestContext,
                      clock: FrozenClock) -> Standing:
    async def find(uow: UnitOfWork) -> Account | None:
        return account

    return await attempts.standing(ctx, clock.now(), find)


async def test_standing_reads_device_and_factors(store: SqlStore, attempts: SignInAttempts,
                                                 ann: Account, clock: FrozenClock) -> None:
    await add_factor(store, clock, ann, FactorKind.SMS_CODE, destination=PHONE)
    owner = await standing_of(attempts, ann, OWNER, clock)
    assert owner.device is not None and owner.device.id == "dev-1"
    assert owner.methods == ("sms_code",)  # no recovery codes issued yet
    assert (await standing_of(attempts, ann, STRANGER, clock)).device is None


async def test_an_unknown_account_stands_on_nothing(attempts: SignInAttempts,
                                                    clock: FrozenClock) -> None:
    async def nobody(uow: UnitOfWork) -> Account | None:
        return None

    assert await attempts.standing(STRANGER, clock.now(), nobody) == Standing(None, None, (), ())


async def test_a_refusal_counts_and_answers_alike(attempts: SignInAttempts, ann: Account,
                                                  clock: FrozenClock, database_url: str) -> None:
    standing = await standing_of(attempts, ann, STRANGER, clock)
    attempt = await attempts.reserve(STRANGER, standing, ANN)
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    refused = await attempts.refuse(flow, attempt, STRANGER, ANN, "a***", "wrong_password")
    assert refused.error is not None and refused.error.code == "login.invalid_credentials"
    assert await column_values(database_url, tables.accounts.c.failed_logins) == [1]


async def test_a_step_that_leads_on_gives_its_reservation_back_with_the_flow(
        attempts: SignInAttempts, ann: Account, clock: FrozenClock, database_url: str) -> None:
    standing = await standing_of(attempts, ann, STRANGER, clock)
    attempt = await attempts.reserve(STRANGER, standing, ANN)
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    passed = login.first_factor_passed(
        flow, account_id=ann.id, method="password", masked_identifier="a***",
        factors=("totp",), device_trusted=False, device_code=None, code_digest=None,
        now=clock.now(), code_lifetime=LIFETIME)
    settled = await attempts.settle(passed, attempt, STRANGER, ANN, ann)
    assert settled.effects[-1] == SettleAttempt(ann.id, None, completed=False)
    # Not yet written: the settlement commits with the flow. (A reservation is pending, not
    # a failure.)
    assert await column_values(database_url, tables.accounts.c.pending) == [1]
    assert await column_values(database_url, tables.accounts.c.failed_logins) == [0]


async def test_an_exhausted_send_budget_gives_the_reservation_back_at_once(
        attempts: SignInAttempts, budget: SendBudget, ann: Account, clock: FrozenClock,
        database_url: str) -> None:
    for _ in range(5):
        await budget.spend("owner", ann.contact.value)
    standing = await standing_of(attempts, ann, STRANGER, clock)
    attempt = await attempts.reserve(STRANGER, standing, ANN)
    flow = login.start("flow-1", Channel.API, clock.now(), LIFETIME)
    waiting = login.first_factor_passed(
        flow, account_id=ann.id, method="password", masked_identifier="a***", factors=(),
        device_trusted=False, device_code=SendToContact("device_code", ann.contact, {}),
        code_digest="d", now=clock.now(), code_lifetime=LIFETIME)
    with pytest.raises(SendLimitReached):
        await attempts.settle(waiting, attempt, STRANGER, ANN, ann)
    assert await column_values(database_url, tables.accounts.c.failed_logins) == [0]
    assert await column_values(database_url, tables.accounts.c.pending) == [0]
