"""keepgate.services.throttle: the per-IP sign-in budget reserved before any hash, released on
success, the sign-up budget, and the CAPTCHA demand after failures on an identifier or from a
throttled IP. The counters are in memory; their windows are far longer than a test."""

from __future__ import annotations

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.domain.errors import Throttled
from keepgate.domain.factors import DefencePolicy
from keepgate.services.ports import TimeUnit
from keepgate.services.throttle import Limits, Throttle

pytestmark = pytest.mark.anyio

KEY = b"throttle-test-key-0123456789abcd"
POLICY = DefencePolicy(ip_failures=3, captcha_after=2, signups_per_ip=2)
IP = "203.0.113.7"
OTHER_IP = "198.51.100.9"
IDENTIFIER = "ann@example.com"


@pytest.fixture
def throttle() -> Throttle:
    return Throttle(LimitsWindowCounters.in_memory(), POLICY, KEY)


def test_limits_follow_the_policy() -> None:
    limits = Limits.from_policy(POLICY)
    assert limits.ip_failures.amount == 3
    assert (limits.ip_failures.length, limits.ip_failures.unit) == (600, TimeUnit.SECOND)
    assert limits.signups.amount == 2
    assert (limits.signups.length, limits.signups.unit) == (1, TimeUnit.HOUR)
    namespaces = {w.namespace for w in (limits.ip_failures, limits.ip_flag, limits.signups,
                                        limits.identifier_failures)}
    assert len(namespaces) == 4  # no two counters share keys


async def test_the_ip_budget_refuses_once_spent(throttle: Throttle) -> None:
    for _ in range(3):
        await throttle.reserve_sign_in(IP)
    with pytest.raises(Throttled) as refused:
        await throttle.reserve_sign_in(IP)
    assert refused.value.retry_after is not None
    assert 1 <= refused.value.retry_after <= 600
    await throttle.reserve_sign_in(OTHER_IP)  # another IP has its own budget


async def test_a_released_reservation_is_given_back(throttle: Throttle) -> None:
    for _ in range(3):
        await throttle.reserve_sign_in(IP)
    await throttle.release_sign_in(IP)
    await throttle.reserve_sign_in(IP)
    with pytest.raises(Throttled):
        await throttle.reserve_sign_in(IP)


async def test_successes_never_use_up_the_budget(throttle: Throttle) -> None:
    for _ in range(10):
        await throttle.reserve_sign_in(IP)
        await throttle.release_sign_in(IP)
    for _ in range(3):
        await throttle.reserve_sign_in(IP)


async def test_a_throttled_ip_is_flagged_for_proof_of_work(throttle: Throttle) -> None:
    for _ in range(3):
        await throttle.reserve_sign_in(IP)
    assert not await throttle.ip_flagged(IP)
    assert not await throttle.captcha_needed(None, IP)
    with pytest.raises(Throttled):
        await throttle.reserve_sign_in(IP)
    assert await throttle.ip_flagged(IP)
    assert await throttle.captcha_needed(None, IP)
    assert await throttle.captcha_needed("someone@example.com", IP)
    assert not await throttle.ip_flagged(OTHER_IP)


async def test_sign_ups_have_their_own_budget(throttle: Throttle) -> None:
    await throttle.reserve_sign_up(IP)
    await throttle.reserve_sign_up(IP)
    with pytest.raises(Throttled) as refused:
        await throttle.reserve_sign_up(IP)
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    await throttle.reserve_sign_in(IP)  # the sign-in budget is untouched
    await throttle.reserve_sign_up(OTHER_IP)


async def test_captcha_after_failures_on_an_identifier(throttle: Throttle) -> None:
    await throttle.identifier_failed(IDENTIFIER)
    assert await throttle.identifier_failures(IDENTIFIER) == 1
    assert not await throttle.captcha_needed(IDENTIFIER, IP)
    await throttle.identifier_failed(IDENTIFIER)
    assert await throttle.identifier_failures(IDENTIFIER) == 2
    assert await throttle.captcha_needed(IDENTIFIER, IP)
    assert await throttle.captcha_needed(IDENTIFIER, OTHER_IP)  # from anywhere
    assert not await throttle.captcha_needed("bob@example.com", IP)
    assert not await throttle.captcha_needed(None, IP)


async def test_a_success_clears_the_identifier_failures(throttle: Throttle) -> None:
    for _ in range(2):
        await throttle.identifier_failed(IDENTIFIER)
    await throttle.identifier_succeeded(IDENTIFIER)
    assert await throttle.identifier_failures(IDENTIFIER) == 0
    assert not await throttle.captcha_needed(IDENTIFIER, IP)


def test_identifier_keys_are_keyed_hashes(throttle: Throttle) -> None:
    key = throttle.identifier_key(IDENTIFIER)
    assert key == throttle.identifier_key(IDENTIFIER)
    assert len(key) == 32 and int(key, 16) >= 0
    assert "ann" not in key
    assert key != throttle.identifier_key("bob@example.com")
    other = Throttle(LimitsWindowCounters.in_memory(), POLICY, b"another-key-0123456789abcdef")
    assert other.identifier_key(IDENTIFIER) != key
