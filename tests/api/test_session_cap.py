"""At most 10 active sessions per account: the 11th sign-in ends the oldest, with a notice
(issue 8, #8)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.conftest import bearer, recent_messages, register, sign_in

pytestmark = pytest.mark.anyio

ID = "many@example.com"


async def test_the_eleventh_session_ends_the_oldest_with_a_notice(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    tokens = []
    for _ in range(10):
        tokens.append(await sign_in(client, ID))
        clock.advance(timedelta(seconds=1))
    assert [m.template for m in await recent_messages(kg)].count("session_ended") == 0
    newest = await sign_in(client, ID)
    assert (await client.get("/api/v1/me", headers=bearer(tokens[0]))).status_code == 401
    for token in [*tokens[1:], newest]:
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    listed = (await client.get("/api/v1/sessions", headers=bearer(newest))).json()["sessions"]
    assert len(listed) == 10
    notices = [m for m in await recent_messages(kg) if m.template == "session_ended"]
    assert [m.destination for m in notices] == [ID]
    assert "signed out" in notices[0].body
    assert "http://localhost/account/security" in notices[0].body


async def test_ended_and_expired_sessions_do_not_count(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    old = [await sign_in(client, ID) for _ in range(9)]
    clock.advance(timedelta(minutes=31))  # the nine went idle
    keep = [await sign_in(client, ID) for _ in range(10)]
    assert all([(await client.get("/api/v1/me", headers=bearer(t))).status_code == 200
                for t in keep])
    assert old and not [m for m in await recent_messages(kg) if m.template == "session_ended"]
