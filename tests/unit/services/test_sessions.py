"""keepgate.services.sessions: a token authenticates while its session is neither revoked, idle
past the idle timeout nor past its absolute end; last-seen is written at most once a minute;
revoking is immediate and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.adapters.sql.store import SqlStore
from keepgate.domain.audit import EventKind
from keepgate.domain.errors import AuthenticationRequired, SessionNotFound
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.principals import CustomerSession
from keepgate.domain.sessions import SessionPolicy
from keepgate.services.access import AccessService
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.sessions import MAX_TOKEN_LENGTH, SessionService
from tests.unit.services.records import (
    IP,
    USER_AGENT,
    add_account,
    add_session,
    audit_events,
    get_session,
)

pytestmark = pytest.mark.anyio

POLICY = SessionPolicy(idle_timeout=timedelta(minutes=30), absolute_timeout=timedelta(hours=12),
                       touch_interval=timedelta(seconds=60))
CTX = RequestContext(ip=IP, user_agent=USER_AGENT)


@pytest.fixture
def sessions(store: SqlStore, clock: FrozenClock) -> SessionService:
    access = AccessService(store=store, clock=clock, policy=DefencePolicy(),
                           counters=LimitsWindowCounters.in_memory())
    return SessionService(store=store, clock=clock, policy=POLICY, access=access)


@pytest.fixture
async def principal(sessions: SessionService, store: SqlStore,
                    clock: FrozenClock) -> CustomerSession:
    """Ann, signed in with the token "ann-phone" (and also on "ann-laptop")."""
    await add_account(store, clock)
    await add_session(store, clock, "acc-1", "ann-phone")
    await add_session(store, clock, "acc-1", "ann-laptop")
    return await sessions.authenticate("ann-phone")


async def refused(sessions: SessionService, token: str | None) -> bool:
    try:
        await sessions.authenticate(token)
    except AuthenticationRequired:
        return True
    return False


async def test_a_valid_token_authenticates(sessions: SessionService, store: SqlStore,
                                           clock: FrozenClock) -> None:
    ann = await add_account(store, clock)
    session = await add_session(store, clock, ann.id, "ann-phone")
    principal = await sessions.authenticate("ann-phone")
    assert principal.session.id == session.id
    assert principal.account.id == ann.id
    assert principal.account.email == "ann@example.com"


@pytest.mark.parametrize("token", [None, "", "unknown-token", "x" * (MAX_TOKEN_LENGTH + 1)])
async def test_missing_unknown_or_oversized_tokens_are_refused(
        sessions: SessionService, principal: CustomerSession, token: str | None) -> None:
    assert await refused(sessions, token)


async def test_an_idle_session_ends(sessions: SessionService, principal: CustomerSession,
                                    clock: FrozenClock) -> None:
    clock.advance(POLICY.idle_timeout - timedelta(seconds=1))
    assert not await refused(sessions, "ann-laptop")
    clock.advance(timedelta(seconds=1))
    assert await refused(sessions, "ann-phone")  # idle for the whole timeout
    assert not await refused(sessions, "ann-laptop")  # seen a second ago


async def test_use_keeps_a_session_alive(sessions: SessionService, principal: CustomerSession,
                                         clock: FrozenClock) -> None:
    for _ in range(5):
        clock.advance(timedelta(minutes=20))
        assert not await refused(sessions, "ann-phone")
    assert await refused(sessions, "ann-laptop")  # unused all along


async def test_last_seen_is_written_at_most_once_a_touch_interval(
        sessions: SessionService, store: SqlStore, principal: CustomerSession,
        clock: FrozenClock) -> None:
    start = clock.now()
    clock.advance(POLICY.touch_interval - timedelta(seconds=1))
    await sessions.authenticate("ann-phone")
    assert (await get_session(store, principal.session.id)).last_seen_at == start
    clock.advance(timedelta(seconds=1))
    await sessions.authenticate("ann-phone")
    assert (await get_session(store, principal.session.id)).last_seen_at == clock.now()


async def test_the_absolute_timeout_ends_even_a_busy_session(
        sessions: SessionService, principal: CustomerSession, clock: FrozenClock) -> None:
    end = principal.session.expires_at
    while clock.now() + timedelta(minutes=20) < end:
        clock.advance(timedelta(minutes=20))
        await sessions.authenticate("ann-phone")
    clock.advance(end - clock.now() - timedelta(seconds=1))
    await sessions.authenticate("ann-phone")
    clock.advance(timedelta(seconds=1))
    assert await refused(sessions, "ann-phone")


async def test_active_sessions_are_listed_most_recent_first(
        sessions: SessionService, store: SqlStore, principal: CustomerSession,
        clock: FrozenClock) -> None:
    await add_account(store, clock, "acc-2", email="bob@example.com")
    await add_session(store, clock, "acc-2", "bob-phone")
    await add_session(store, clock, "acc-1", "ann-tablet")
    clock.advance(timedelta(minutes=5))
    await sessions.authenticate("ann-laptop")
    await sessions.revoke(principal, "ses-ann-tablet", CTX)
    listed = await sessions.list_active("acc-1")
    assert [s.id for s in listed] == ["ses-ann-laptop", "ses-ann-phone"]
    clock.advance(POLICY.idle_timeout - timedelta(minutes=1))
    assert [s.id for s in await sessions.list_active("acc-1")] == ["ses-ann-laptop"]


async def test_revoking_another_session_ends_it_at_once(
        sessions: SessionService, store: SqlStore, principal: CustomerSession) -> None:
    await sessions.revoke(principal, "ses-ann-laptop", CTX)
    assert await refused(sessions, "ann-laptop")
    assert not await refused(sessions, "ann-phone")
    [event] = await audit_events(store)
    assert event.kind is EventKind.SESSION_REVOKED
    assert (event.account_id, event.ip, event.user_agent) == ("acc-1", IP, USER_AGENT)
    assert event.details == {"session_id": "ses-ann-laptop"}


async def test_revoking_ones_own_session_is_a_logout(
        sessions: SessionService, store: SqlStore, principal: CustomerSession) -> None:
    await sessions.revoke(principal, principal.session.id, CTX)
    assert await refused(sessions, "ann-phone")
    assert [e.kind for e in await audit_events(store)] == [EventKind.LOGOUT]


async def test_only_ones_own_active_sessions_can_be_revoked(
        sessions: SessionService, store: SqlStore, principal: CustomerSession,
        clock: FrozenClock) -> None:
    await add_account(store, clock, "acc-2", email="bob@example.com")
    await add_session(store, clock, "acc-2", "bob-phone")
    for session_id in ("ses-bob-phone", "no-such-session"):
        with pytest.raises(SessionNotFound):
            await sessions.revoke(principal, session_id, CTX)
    assert not await refused(sessions, "bob-phone")
    await sessions.revoke(principal, "ses-ann-laptop", CTX)
    with pytest.raises(SessionNotFound):  # already revoked
        await sessions.revoke(principal, "ses-ann-laptop", CTX)
    # reaching for Bob's session is audited (finding 9 of issue 8); an unknown id is not
    denied, revoked = await audit_events(store)
    assert (denied.kind, denied.details["resource"]) == (EventKind.ACCESS_DENIED,
                                                         "session:ses-bob-phone")
    assert revoked.kind is EventKind.SESSION_REVOKED


async def test_revoke_others_keeps_the_current_session(
        sessions: SessionService, store: SqlStore, principal: CustomerSession,
        clock: FrozenClock) -> None:
    await add_session(store, clock, "acc-1", "ann-tablet")
    await add_account(store, clock, "acc-2", email="bob@example.com")
    await add_session(store, clock, "acc-2", "bob-phone")
    assert await sessions.revoke_others(principal, CTX) == 2
    assert await refused(sessions, "ann-laptop")
    assert await refused(sessions, "ann-tablet")
    assert not await refused(sessions, "ann-phone")
    assert not await refused(sessions, "bob-phone")
    [event] = await audit_events(store)
    assert event.kind is EventKind.SESSIONS_REVOKED
    assert event.details == {"count": 2}
    assert await sessions.revoke_others(principal, CTX) == 0


async def test_logout_ends_the_current_session(sessions: SessionService, store: SqlStore,
                                               principal: CustomerSession) -> None:
    await sessions.logout(principal, CTX)
    assert await refused(sessions, "ann-phone")
    assert not await refused(sessions, "ann-laptop")
    [event] = await audit_events(store)
    assert event.kind is EventKind.LOGOUT
    assert event.details == {"session_id": principal.session.id}
    with pytest.raises(SessionNotFound):
        await sessions.logout(principal, CTX)
