"""keepgate.services.defences: every sign-in attempt is reserved before it is evaluated; the
fifth consecutive failure bans for an hour and tells the owner; a trusted device counts apart
from its account; only a finished sign-in clears the count."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.sql import tables
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.accounts import Account
from keepgate.domain.audit import EventKind
from keepgate.domain.errors import Throttled
from keepgate.domain.factors import DefencePolicy
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.defences import Attempt, SignInDefences
from keepgate.services.messages import MessageRenderer
from keepgate.services.notices import Notifier
from keepgate.services.throttle import Throttle
from tests.unit.services.records import (
    IP,
    USER_AGENT,
    add_account,
    add_device,
    audit_events,
    column_values,
    get_account,
    get_device,
    outbox,
)

pytestmark = pytest.mark.anyio

ANN = "ann@example.com"
PHONE = "+447700900123"
STRANGER = RequestContext(ip="198.51.100.66", user_agent="curl/8.5.0")
OWNER = RequestContext(ip=IP, user_agent=USER_AGENT, device_token="ann-device")
HOUR = timedelta(hours=1)


def make_defences(store: SqlStore, clock: FrozenClock, **policy: Any) -> SignInDefences:
    defence = DefencePolicy(**policy)
    throttle = Throttle(LimitsWindowCounters.in_memory(), defence,
                        b"defences-throttle-key-0123456789")
    return SignInDefences(store=store, clock=clock, throttle=throttle, policy=defence,
                          notifier=Notifier(MessageRenderer("https://keepgate.example")))


@pytest.fixture
def defences(store: SqlStore, clock: FrozenClock) -> SignInDefences:
    return make_defences(store, clock)


@pytest.fixture
async def ann(store: SqlStore, clock: FrozenClock) -> Account:
    account = await add_account(store, clock, email=ANN, phone=PHONE)
    await add_device(store, clock, account.id, "ann-device")
    return account


async def fail(defences: SignInDefences, account: Account | None, ctx: RequestContext = STRANGER,
               times: int = 1, identifier: str = ANN) -> Attempt:
    attempt = None
    for _ in range(times):
        attempt = await defences.reserve(ctx, account, identifier)
        assert not attempt.refused, attempt
        await defences.failed(attempt, ctx, identifier)
    assert attempt is not None
    return attempt


async def test_reservations_are_numbered_up_to_max_failures(defences: SignInDefences,
                                                            ann: Account) -> None:
    numbers = [(await defences.reserve(STRANGER, ann, ANN)).number for _ in range(5)]
    assert numbers == [1, 2, 3, 4, 5]
    sixth = await defences.reserve(STRANGER, ann, ANN)  # five still being evaluated
    assert sixth.refused and sixth.refusal == "banned" and sixth.number is None
    assert sixth.account == ann


async def test_fewer_than_five_failures_do_not_ban(defences: SignInDefences, store: SqlStore,
                                                   ann: Account) -> None:
    await fail(defences, ann, times=4)
    account = await get_account(store, ann.id)
    assert (account.failed_logins, account.banned_until) == (4, None)
    assert await outbox(store) == []
    assert await audit_events(store) == []


async def test_the_fifth_failure_bans_for_an_hour_and_tells_the_owner(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account) -> None:
    await fail(defences, ann, times=5)
    until = clock.now() + HOUR
    account = await get_account(store, ann.id)
    assert (account.failed_logins, account.banned_until) == (0, until)
    [event] = await audit_events(store)
    assert event.kind is EventKind.BANNED
    assert (event.account_id, event.ip) == (ann.id, STRANGER.ip)
    assert event.details == {"until": until.isoformat(), "scope": "account", "failures": 5}
    notices = await outbox(store)
    assert [(m.template, m.destination) for m in notices] == [("signin_banned", ANN),
                                                              ("signin_banned", PHONE)]
    assert "60 minutes" in notices[0].body and STRANGER.ip in notices[0].body
    assert "devices you already confirmed can still sign in" in notices[0].body


async def test_a_ban_refuses_until_it_ends(defences: SignInDefences, clock: FrozenClock,
                                           ann: Account) -> None:
    await fail(defences, ann, times=5)
    clock.advance(HOUR - timedelta(seconds=1))
    assert (await defences.reserve(STRANGER, ann, ANN)).refusal == "banned"
    clock.advance(timedelta(seconds=1))
    assert (await defences.reserve(STRANGER, ann, ANN)).number == 1


async def test_a_finished_sign_in_clears_the_count(defences: SignInDefences, store: SqlStore,
                                                   ann: Account) -> None:
    await fail(defences, ann, times=4)
    assert await defences.captcha_needed(ANN, STRANGER.ip)
    attempt = await defences.reserve(STRANGER, ann, ANN)
    await defences.settle(attempt, STRANGER, ANN, completed=True)
    assert (await get_account(store, ann.id)).failed_logins == 0
    assert not await defences.captcha_needed(ANN, STRANGER.ip)
    assert (await defences.reserve(STRANGER, ann, ANN)).number == 1


async def test_a_passed_step_gives_back_only_its_own_reservation(
        defences: SignInDefences, store: SqlStore, ann: Account) -> None:
    await fail(defences, ann, times=2)
    password_right = await defences.reserve(STRANGER, ann, ANN)
    assert password_right.number == 3
    await defences.settle(password_right, STRANGER, ANN, completed=False)
    assert (await get_account(store, ann.id)).failed_logins == 2
    await fail(defences, ann, times=3)  # then three wrong codes: the fifth failure
    assert (await get_account(store, ann.id)).banned_until is not None


async def test_a_trusted_device_counts_apart_from_its_account(
        defences: SignInDefences, store: SqlStore, ann: Account) -> None:
    await fail(defences, ann, times=5)  # strangers ban the account
    attempt = await defences.reserve(OWNER, ann, ANN)
    assert not attempt.refused and attempt.number == 1
    assert attempt.device is not None and attempt.device.account_id == ann.id
    await defences.failed(attempt, OWNER, ANN)
    assert (await get_device(store, "ann-device")).failed_logins == 1
    assert (await get_account(store, ann.id)).failed_logins == 0


async def test_failures_on_a_device_leave_the_account_alone(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account) -> None:
    await fail(defences, ann, OWNER, times=5)
    device = await get_device(store, "ann-device")
    assert (device.failed_logins, device.banned_until) == (0, clock.now() + HOUR)
    assert (await defences.reserve(OWNER, ann, ANN)).refusal == "banned"
    assert (await defences.reserve(STRANGER, ann, ANN)).number == 1
    assert (await get_account(store, ann.id)).banned_until is None
    [event] = await audit_events(store)
    assert event.details["scope"] == "device"
    [email, _] = await outbox(store)
    assert "on that confirmed device" in email.body


async def test_success_on_a_device_clears_the_device(defences: SignInDefences, store: SqlStore,
                                                     clock: FrozenClock, ann: Account) -> None:
    await fail(defences, ann, OWNER, times=3)
    clock.advance(timedelta(minutes=5))
    attempt = await defences.reserve(OWNER, ann, ANN)
    await defences.succeeded(attempt, OWNER, ANN)
    device = await get_device(store, "ann-device")
    assert (device.failed_logins, device.last_used_at) == (0, clock.now())


async def test_a_caller_can_count_on_the_account_despite_a_device(
        defences: SignInDefences, store: SqlStore, ann: Account) -> None:
    attempt = await defences.reserve(OWNER, ann, ANN, device=None)
    assert attempt.device is None and attempt.number == 1
    assert (await defences.reserve(STRANGER, ann, ANN)).number == 2  # both on the account
    assert (await get_device(store, "ann-device")).failed_logins == 0


async def test_only_a_usable_device_of_this_account_is_trusted(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account) -> None:
    bob = await add_account(store, clock, "acc-2", email="bob@example.com")
    await add_device(store, clock, bob.id, "bob-device", device_id="dev-2")
    await add_device(store, clock, ann.id, "ann-old", device_id="dev-3",
                     lifetime=timedelta(days=1))
    await add_device(store, clock, ann.id, "ann-revoked", device_id="dev-4")
    async with store.unit_of_work(write=True) as uow:
        await uow.devices.revoke("dev-4", clock.now())
    clock.advance(timedelta(days=1))
    assert (await defences.trusted_device("ann-device", ann.id)) is not None
    for token in (None, "", "unknown", "bob-device", "ann-old", "ann-revoked", "x" * 129):
        assert await defences.trusted_device(token, ann.id) is None, token


async def test_an_unknown_identifier_is_counted_without_an_account(
        defences: SignInDefences, store: SqlStore, database_url: str) -> None:
    attempt = await defences.reserve(STRANGER, None, "nobody@example.com")
    assert attempt == Attempt(None, None, None, None)
    assert not attempt.refused
    assert await column_values(database_url, tables.unknown_attempts.c.key) == [
        defences.throttle.identifier_key("nobody@example.com")]
    await fail(defences, None, times=2, identifier="nobody@example.com")
    # failures, as on an account: the first reservation was never settled
    assert await column_values(database_url, tables.unknown_attempts.c.failed) == [2]
    assert not await defences.captcha_needed("nobody@example.com", STRANGER.ip)
    await fail(defences, None, times=1, identifier="nobody@example.com")
    assert await defences.captcha_needed("nobody@example.com", STRANGER.ip)  # as for Ann
    assert await outbox(store) == []
    assert await audit_events(store) == []


async def test_a_locked_account_is_refused_without_counting(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account,
        database_url: str) -> None:
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.lock(ann.id, clock.now())
    locked = await get_account(store, ann.id)
    attempt = await defences.reserve(STRANGER, locked, ANN)
    assert attempt.refusal == "locked"
    assert (await defences.reserve(OWNER, locked, ANN)).refusal == "locked"
    assert (await get_account(store, ann.id)).failed_logins == 0
    assert (await get_device(store, "ann-device")).failed_logins == 0
    # the same one write before the hash as any other refusal, on the identifier
    assert await column_values(database_url, tables.unknown_attempts.c.key) == [
        defences.throttle.identifier_key(ANN)]


async def test_an_ip_over_its_budget_is_refused_before_any_counting(
        store: SqlStore, clock: FrozenClock, ann: Account) -> None:
    defences = make_defences(store, clock, ip_failures=2)
    await fail(defences, ann, times=2)
    with pytest.raises(Throttled):
        await defences.reserve(STRANGER, ann, ANN)
    with pytest.raises(Throttled):
        await defences.reserve(STRANGER, None, "nobody@example.com")
    assert (await get_account(store, ann.id)).failed_logins == 2
    assert await defences.captcha_needed(None, STRANGER.ip)
    assert (await defences.reserve(OWNER, ann, ANN)).number == 1  # another IP


async def test_successes_give_the_ip_budget_back(store: SqlStore, clock: FrozenClock,
                                                 ann: Account) -> None:
    defences = make_defences(store, clock, ip_failures=2)
    for completed in (True, False, True, False, True):
        attempt = await defences.reserve(STRANGER, ann, ANN)
        await defences.settle(attempt, STRANGER, ANN, completed=completed)
    await fail(defences, ann, times=2)


async def test_reservations_cut_short_lapse_on_their_own(defences: SignInDefences,
                                                         store: SqlStore, clock: FrozenClock,
                                                         ann: Account) -> None:
    """Five attempts reserved and never settled (each request killed mid-hash) hold the
    account only while they could still be running: no failure, ban or notice is left."""
    for _ in range(5):
        assert not (await defences.reserve(STRANGER, ann, ANN)).refused
    assert (await defences.reserve(STRANGER, ann, ANN)).refusal == "banned"
    clock.advance(defences.policy.reservation_lifetime - timedelta(seconds=1))
    assert (await defences.reserve(STRANGER, ann, ANN)).refusal == "banned"
    clock.advance(timedelta(seconds=1))
    attempt = await defences.reserve(STRANGER, ann, ANN)
    assert attempt.number == 1
    account = await get_account(store, ann.id)
    assert (account.failed_logins, account.banned_until) == (0, None)
    assert await outbox(store) == [] and await audit_events(store) == []


async def test_cut_short_reservations_lapse_on_a_trusted_device_too(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account) -> None:
    for _ in range(5):
        assert not (await defences.reserve(OWNER, ann, ANN)).refused
    assert (await defences.reserve(OWNER, ann, ANN)).refusal == "banned"
    clock.advance(timedelta(hours=2))
    assert (await defences.reserve(OWNER, ann, ANN)).number == 1
    assert (await get_device(store, "ann-device")).failed_logins == 0


async def test_a_failure_path_cut_by_redis_has_already_counted_and_banned(
        defences: SignInDefences, store: SqlStore, clock: FrozenClock, ann: Account,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await fail(defences, ann, times=4)
    attempt = await defences.reserve(STRANGER, ann, ANN)

    async def redis_gone(identifier: str) -> None:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(defences.throttle, "identifier_failed", redis_gone)
    with pytest.raises(ConnectionError):
        await defences.failed(attempt, STRANGER, ANN)
    account = await get_account(store, ann.id)
    assert account.banned_until == clock.now() + HOUR  # recorded, told and audited, and ends
    assert [e.kind for e in await audit_events(store)] == [EventKind.BANNED]
    assert [m.template for m in await outbox(store)] == ["signin_banned"] * 2
