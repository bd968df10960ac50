"""Ending other sessions needs step-up on an account with a factor: a stolen session must not
evict the owner. Signing out this session never does."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import (
    current_code,
    device_headers,
    password_step,
    step_up_with_totp,
    submit,
    with_totp_and_step_up,
)
from tests.conftest import bearer

pytestmark = pytest.mark.anyio
ID = "evict@example.com"


async def second_session(client: httpx.AsyncClient, secret: str, clock: FrozenClock) -> str:
    clock.advance(timedelta(seconds=30))
    flow = (await password_step(client, ID)).json()
    done = await submit(client, flow["id"], headers=device_headers(ID), method="totp",
                        code=current_code(secret, clock))
    return str(done.json()["session"]["token"])


async def test_a_stale_session_cannot_evict_the_others(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    owner, secret = await with_totp_and_step_up(client, kg, ID, clock)
    thief = await second_session(client, secret, clock)
    clock.advance(timedelta(minutes=6))
    sessions = (await client.get("/api/v1/sessions", headers=bearer(thief))).json()["sessions"]
    owners = next(s["id"] for s in sessions if not s["current"])
    for answer in (
        await client.delete("/api/v1/sessions", headers=bearer(thief)),
        await client.delete(f"/api/v1/sessions/{owners}", headers=bearer(thief)),
        await client.post("/api/v1/security/sign-out-everywhere", headers=bearer(thief)),
        await client.post("/api/v1/security/not-me", headers=bearer(thief)),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "step_up_required"
    assert (await client.get("/api/v1/me", headers=bearer(owner))).status_code == 200

    clock.advance(timedelta(seconds=30))
    stepped = await step_up_with_totp(client, owner, secret, clock)
    ended = await client.delete("/api/v1/sessions", headers=bearer(stepped))
    assert ended.status_code == 200 and ended.json() == {"revoked": 1}
    assert (await client.get("/api/v1/me", headers=bearer(thief))).status_code == 401
    everywhere = await client.post("/api/v1/security/sign-out-everywhere",
                                   headers=bearer(stepped))
    assert everywhere.status_code == 204


async def test_signing_out_this_session_needs_nothing(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    clock.advance(timedelta(minutes=6))
    me = (await client.get("/api/v1/me", headers=bearer(token))).json()["session"]["id"]
    assert (await client.delete(f"/api/v1/sessions/{me}", headers=bearer(token))
            ).status_code == 204
