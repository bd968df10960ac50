"""keepgate.services.sent_codes: one set of rules for every code we send. At least 60 s
between sends, the hourly send budget across flows, a lifetime, single use, five wrong tries
kill the code, and a resend gives a new code without resetting the failure count."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeNotSent,
    InvalidCode,
    ResendTooSoon,
    SendLimitReached,
)
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import CodePolicy
from keepgate.flows.base import Channel, Flow, FlowKind, SendToContact, iso
from keepgate.security.codes import CodeDigester
from keepgate.services.clock import FrozenClock
from keepgate.services.send_budget import SendBudget, Sender
from keepgate.services.sent_codes import CodeSlot

pytestmark = pytest.mark.anyio

POLICY = CodePolicy()  # 60 s cooldown, 5 sends an hour, 5 wrong tries
LIFETIME = timedelta(minutes=5)
SLOT = CodeSlot("sign_in", "sign-in", LIFETIME)
TO = Identifier(IdentifierKind.EMAIL, "ann@example.com")
NOBODY = Sender(account_id=None, ip=None)  # per-sender budgets: see test_send_budget
DIGESTER = CodeDigester(b"sent-codes-test-key-0123456789ab")


@pytest.fixture
def budget(store: SqlStore, clock: FrozenClock) -> SendBudget:
    return SendBudget(store=store, clock=clock, key=b"send-budget-key-0123456789abcdef",
                      limit=POLICY.max_sends_per_hour)


def new_flow(clock: FrozenClock, flow_id: str = "flow-1") -> Flow:
    now = clock.now()
    return Flow(id=flow_id, kind=FlowKind.LOGIN, channel=Channel.API, state="code",
                created_at=now, expires_at=now + timedelta(minutes=15))


async def send(budget: SendBudget, clock: FrozenClock, flow: Flow) -> tuple[Flow, str]:
    """Send a fresh code on ``flow``; returns the updated flow and the code."""
    code, digest = SLOT.new(DIGESTER, flow, POLICY)
    message = SendToContact("sign_in_code", TO, {"code": code, "minutes": 5})
    result = await SLOT.send(budget, POLICY, flow, TO, clock.now(), message=message,
                             digest=digest, sender=NOBODY)
    return result.flow, code


def fail(flow: Flow) -> Flow:
    return SLOT.failed(flow, POLICY)


async def test_a_send_stores_the_digest_and_hands_back_the_message(
        budget: SendBudget, clock: FrozenClock) -> None:
    flow = new_flow(clock)
    code, digest = SLOT.new(DIGESTER, flow, POLICY)
    assert len(code) == POLICY.digits and code.isdigit()
    message = SendToContact("sign_in_code", TO, {"code": code, "minutes": 5})
    result = await SLOT.send(budget, POLICY, flow, TO, clock.now(), message=message,
                             digest=digest, sender=NOBODY)
    assert result.effects == (message,)
    context = result.flow.context
    assert context["sign_in_digest"] == digest != code
    assert context["sign_in_sent_at"] == iso(clock.now())
    assert context["sign_in_expires_at"] == iso(clock.now() + LIFETIME)
    assert context["sign_in_failures"] == 0
    assert [m.code for m in result.flow.messages] == ["code.sent"]
    assert TO.masked() in result.flow.messages[0].text
    assert SLOT.sent(result.flow) and not SLOT.sent(flow)


async def test_the_right_code_passes_once(budget: SendBudget, clock: FrozenClock) -> None:
    flow, code = await send(budget, clock, new_flow(clock))
    spent = SLOT.verify(DIGESTER, POLICY, flow, code, clock.now())
    assert spent.context["sign_in_digest"] is None
    with pytest.raises(InvalidCode):
        SLOT.verify(DIGESTER, POLICY, spent, code, clock.now())


async def test_no_code_before_one_was_sent(clock: FrozenClock) -> None:
    with pytest.raises(CodeNotSent) as refused:
        SLOT.verify(DIGESTER, POLICY, new_flow(clock), "123456", clock.now())
    assert refused.value.code == "code.not_sent"


async def test_a_wrong_code_is_refused(budget: SendBudget, clock: FrozenClock) -> None:
    flow, code = await send(budget, clock, new_flow(clock))
    wrong = f"{(int(code) + 1) % 10**POLICY.digits:0{POLICY.digits}d}"
    with pytest.raises(InvalidCode) as refused:
        SLOT.verify(DIGESTER, POLICY, flow, wrong, clock.now())
    assert refused.value.code == "code.invalid"


async def test_a_code_lives_for_its_lifetime(budget: SendBudget, clock: FrozenClock) -> None:
    flow, code = await send(budget, clock, new_flow(clock))
    clock.advance(LIFETIME - timedelta(seconds=1))
    SLOT.verify(DIGESTER, POLICY, flow, code, clock.now())
    clock.advance(timedelta(seconds=1))
    with pytest.raises(CodeExpired):
        SLOT.verify(DIGESTER, POLICY, flow, code, clock.now())


async def test_a_code_is_bound_to_its_flow(budget: SendBudget, clock: FrozenClock) -> None:
    flow, code = await send(budget, clock, new_flow(clock, "flow-1"))
    elsewhere = new_flow(clock, "flow-2").with_context(**flow.context)
    with pytest.raises(InvalidCode):
        SLOT.verify(DIGESTER, POLICY, elsewhere, code, clock.now())
    other_purpose = CodeSlot("sign_in", "factor", LIFETIME)
    with pytest.raises(InvalidCode):
        other_purpose.verify(DIGESTER, POLICY, flow, code, clock.now())


async def test_five_wrong_tries_kill_the_code(budget: SendBudget, clock: FrozenClock) -> None:
    flow, code = await send(budget, clock, new_flow(clock))
    for tries in range(1, 5):
        flow = fail(flow)
        assert flow.context["sign_in_failures"] == tries
        assert flow.context["sign_in_digest"] is not None
    flow = fail(flow)
    assert flow.context["sign_in_failures"] == 5
    assert flow.context["sign_in_digest"] is None
    with pytest.raises(CodeAttemptsExhausted):
        SLOT.verify(DIGESTER, POLICY, flow, code, clock.now())


async def test_a_resend_waits_for_the_cooldown(budget: SendBudget, clock: FrozenClock) -> None:
    flow, _ = await send(budget, clock, new_flow(clock))
    clock.advance(timedelta(seconds=20))
    with pytest.raises(ResendTooSoon) as refused:
        await send(budget, clock, flow)
    assert refused.value.retry_after == 41
    clock.advance(timedelta(seconds=40))
    resent, code = await send(budget, clock, flow)
    assert resent.context["sign_in_sent_at"] == iso(clock.now())
    SLOT.verify(DIGESTER, POLICY, resent, code, clock.now())


async def test_a_resend_replaces_the_code(budget: SendBudget, clock: FrozenClock) -> None:
    flow, first = await send(budget, clock, new_flow(clock))
    clock.advance(POLICY.resend_cooldown)
    flow, second = await send(budget, clock, flow)
    if first != second:  # one draw in a million repeats the code
        with pytest.raises(InvalidCode):
            SLOT.verify(DIGESTER, POLICY, flow, first, clock.now())
    SLOT.verify(DIGESTER, POLICY, flow, second, clock.now())
    assert flow.context["sign_in_expires_at"] == iso(clock.now() + LIFETIME)


async def test_a_resend_never_resets_the_failure_count(budget: SendBudget,
                                                       clock: FrozenClock) -> None:
    flow, _ = await send(budget, clock, new_flow(clock))
    for _ in range(3):
        flow = fail(flow)
    clock.advance(POLICY.resend_cooldown)
    flow, code = await send(budget, clock, flow)
    assert flow.context["sign_in_failures"] == 3
    flow = fail(fail(flow))
    with pytest.raises(CodeAttemptsExhausted):
        SLOT.verify(DIGESTER, POLICY, flow, code, clock.now())


async def test_sends_to_one_address_are_capped_across_flows(budget: SendBudget,
                                                            clock: FrozenClock) -> None:
    for n in range(POLICY.max_sends_per_hour):
        await send(budget, clock, new_flow(clock, f"flow-{n}"))
    with pytest.raises(SendLimitReached):
        await send(budget, clock, new_flow(clock, "flow-last"))
    clock.advance(timedelta(hours=1))
    await send(budget, clock, new_flow(clock, "flow-next-hour"))


async def test_a_silent_send_answers_alike_and_spends_the_budget(
        budget: SendBudget, clock: FrozenClock) -> None:
    flow = new_flow(clock)
    silent = await SLOT.send(budget, POLICY, flow, TO, clock.now(), message=None, digest=None,
                             sender=NOBODY)
    assert silent.effects == ()
    assert [m.code for m in silent.flow.messages] == ["code.sent"]
    assert SLOT.sent(silent.flow)
    with pytest.raises(InvalidCode):  # no code can match
        SLOT.verify(DIGESTER, POLICY, silent.flow, "000000", clock.now())
    for n in range(1, POLICY.max_sends_per_hour):
        await send(budget, clock, new_flow(clock, f"flow-{n}"))
    with pytest.raises(SendLimitReached):
        await send(budget, clock, new_flow(clock, "flow-last"))


async def test_a_foreign_slot_spends_the_strangers_budget(budget: SendBudget,
                                                          clock: FrozenClock) -> None:
    contact = CodeSlot("contact", "contact", LIFETIME, budget="foreign")
    for n in range(POLICY.max_sends_per_hour):
        flow = new_flow(clock, f"flow-{n}")
        _, digest = contact.new(DIGESTER, flow, POLICY)
        await contact.send(budget, POLICY, flow, TO, clock.now(), message=None, digest=digest,
                           sender=NOBODY)
    with pytest.raises(SendLimitReached):
        await contact.send(budget, POLICY, new_flow(clock, "x"), TO, clock.now(),
                           message=None, digest=None, sender=NOBODY)
    await send(budget, clock, new_flow(clock, "owner"))  # the owner's budget is untouched
