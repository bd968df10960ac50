"""The whole journey over the JSON API, on SQLite and PostgreSQL."""

from __future__ import annotations

import httpx
import pytest

from keepgate.wiring import Keepgate
from tests.conftest import bearer, register, sign_in

pytestmark = pytest.mark.anyio


async def test_sign_up_sign_in_me_sessions_logout(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, "Jane.Doe@Example.com")
    token = await sign_in(client, "jane.doe@example.com")

    me = await client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    body = me.json()
    assert body["email"] == "jane.doe@example.com"
    assert body["status"] == "restricted"
    assert body["kyc_tier"] == 0
    assert body["capabilities"] == ["view_markets"]
    assert body["session"]["aal"] == "aal1"

    sessions = (await client.get("/api/v1/sessions", headers=bearer(token))).json()["sessions"]
    assert [s["current"] for s in sessions] == [True]
    assert sessions[0]["device"] == "Chrome on Linux"
    assert sessions[0]["ip"] == "203.0.113.7"

    assert (await client.post("/api/v1/logout", headers=bearer(token))).status_code == 204
    after = await client.get("/api/v1/me", headers=bearer(token))
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "auth.required"
