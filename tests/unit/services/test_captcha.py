"""keepgate.services.captcha: when a flow demands proof of work, and a solution that is bound to
its flow, short-lived and accepted once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.replay import MemoryReplayGuard
from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import CaptchaRequired, Throttled
from keepgate.domain.factors import DefencePolicy
from keepgate.flows.base import Channel, Flow, FlowKind, RecordEvent
from keepgate.security.captcha import CaptchaIssuer, solve_for_tests
from keepgate.services.captcha import CaptchaGate
from keepgate.services.clock import FrozenClock
from keepgate.services.throttle import Throttle

pytestmark = pytest.mark.anyio

LIFETIME = timedelta(minutes=10)
POLICY = DefencePolicy(captcha_after=3, ip_failures=2)
IDENTIFIER = "ann@example.com"
IP = "203.0.113.7"


@pytest.fixture
def throttle() -> Throttle:
    return Throttle(LimitsWindowCounters.in_memory(), POLICY, b"captcha-throttle-key-0123456789")


@pytest.fixture
def gate(throttle: Throttle, clock: FrozenClock) -> CaptchaGate:
    issuer = CaptchaIssuer(b"captcha-test-key-0123456789abcdef", max_number=50,
                           lifetime=LIFETIME, cost=1)
    return CaptchaGate(issuer=issuer, guard=MemoryReplayGuard(clock.now), throttle=throttle,
                       clock=clock)


def login_flow(clock: FrozenClock, flow_id: str = "flow-1") -> Flow:
    now = clock.now()
    return Flow(id=flow_id, kind=FlowKind.LOGIN, channel=Channel.BROWSER, state="identify",
                created_at=now, expires_at=now + timedelta(minutes=15))


async def fail_identifier(throttle: Throttle, times: int = POLICY.captcha_after) -> None:
    for _ in range(times):
        await throttle.identifier_failed(IDENTIFIER)


def test_the_binding_names_the_flow_kind_and_id(clock: FrozenClock) -> None:
    assert CaptchaGate.binding(login_flow(clock, "abc")) == "login:abc"


async def test_a_solution_is_accepted_once(gate: CaptchaGate, clock: FrozenClock) -> None:
    flow = login_flow(clock)
    payload = solve_for_tests(gate.challenge(flow))
    assert await gate.solved(flow, payload)
    assert not await gate.solved(flow, payload)


async def test_a_solution_is_bound_to_its_flow(gate: CaptchaGate, clock: FrozenClock) -> None:
    payload = solve_for_tests(gate.challenge(login_flow(clock, "flow-1")))
    assert not await gate.solved(login_flow(clock, "flow-2"), payload)
    registration = login_flow(clock, "flow-1").evolve(kind=FlowKind.REGISTRATION)
    assert not await gate.solved(registration, payload)
    assert await gate.solved(login_flow(clock, "flow-1"), payload)  # still unspent


async def test_a_solution_expires_with_its_challenge(gate: CaptchaGate,
                                                     clock: FrozenClock) -> None:
    flow = login_flow(clock)
    late = solve_for_tests(gate.challenge(flow))
    in_time = solve_for_tests(gate.challenge(flow))
    clock.advance(LIFETIME - timedelta(seconds=1))
    assert await gate.solved(flow, in_time)
    clock.advance(timedelta(seconds=1))
    assert not await gate.solved(flow, late)


@pytest.mark.parametrize("payload", [None, "", "not base64 at all", "x" * 5000])
async def test_missing_or_malformed_solutions_are_refused(gate: CaptchaGate, clock: FrozenClock,
                                                          payload: str | None) -> None:
    assert not await gate.solved(login_flow(clock), payload)


async def test_no_demand_without_failures(gate: CaptchaGate, clock: FrozenClock) -> None:
    assert await gate.demanded(login_flow(clock), IDENTIFIER, IP) is None
    assert await gate.demanded(login_flow(clock), None, IP) is None


async def test_failures_on_an_identifier_bring_a_demand(gate: CaptchaGate, throttle: Throttle,
                                                        clock: FrozenClock) -> None:
    await fail_identifier(throttle, POLICY.captcha_after - 1)
    assert await gate.demanded(login_flow(clock), IDENTIFIER, IP) is None
    await fail_identifier(throttle, 1)
    flow = login_flow(clock)
    result = await gate.demanded(flow, IDENTIFIER, IP)
    assert result is not None
    assert isinstance(result.error, CaptchaRequired)
    assert result.flow.context["captcha_required"] is True
    assert [(m.code, m.type) for m in result.flow.messages] == [("captcha.required", "error")]
    assert result.effects == (RecordEvent(EventKind.CAPTCHA_DEMANDED, Outcome.SUCCESS, None,
                                          {"flow": "login"}),)


async def test_a_repeated_demand_is_recorded_once(gate: CaptchaGate, throttle: Throttle,
                                                  clock: FrozenClock) -> None:
    await fail_identifier(throttle)
    first = await gate.demanded(login_flow(clock), IDENTIFIER, IP)
    assert first is not None
    again = await gate.demanded(first.flow, IDENTIFIER, IP)
    assert again is not None
    assert isinstance(again.error, CaptchaRequired)
    assert again.effects == ()


async def test_a_valid_solution_lifts_the_demand(gate: CaptchaGate, throttle: Throttle,
                                                 clock: FrozenClock) -> None:
    await fail_identifier(throttle)
    flow = login_flow(clock)
    payload = solve_for_tests(gate.challenge(flow))
    assert await gate.demanded(flow, IDENTIFIER, IP, payload) is None
    assert await gate.demanded(flow, IDENTIFIER, IP, payload) is not None  # spent


async def test_a_flow_that_demanded_keeps_demanding(gate: CaptchaGate,
                                                    clock: FrozenClock) -> None:
    flow = login_flow(clock).with_context(captcha_required=True)
    result = await gate.demanded(flow, IDENTIFIER, IP)
    assert result is not None and result.effects == ()
    # Before an identifier is known the flow's old demand does not apply.
    assert await gate.demanded(flow, None, IP) is None


async def test_a_throttled_ip_is_asked_for_proof_even_without_an_identifier(
        gate: CaptchaGate, throttle: Throttle, clock: FrozenClock) -> None:
    for _ in range(POLICY.ip_failures):
        await throttle.reserve_sign_in(IP)
    with pytest.raises(Throttled):
        await throttle.reserve_sign_in(IP)
    assert await gate.demanded(login_flow(clock), None, IP) is not None
    assert await gate.demanded(login_flow(clock), None, "198.51.100.9") is None
