"""Passkeys where they cannot work: at an IP address browsers refuse them, so nothing offers
them and a passkey submission says why; an empty answer from the browser says what happened."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest

from keepgate.config import Settings
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import build

pytestmark = pytest.mark.anyio


@pytest.fixture
async def at_an_ip(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    ip_settings = dataclasses.replace(settings, public_url="http://127.0.0.1:8000")
    kg = build(ip_settings, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(
            app=create_app(ip_settings, keepgate=kg)), base_url="http://127.0.0.1:8000") as http:
        yield http
    await kg.close()


async def test_no_passkey_is_offered_at_an_ip_address(at_an_ip: httpx.AsyncClient) -> None:
    flow = (await at_an_ip.post("/api/v1/flows/login")).json()
    assert "webauthn" not in flow["data"]
    page = await at_an_ip.get("/login", follow_redirects=True)
    assert "Sign in with a passkey" not in page.text


async def test_a_passkey_at_an_ip_address_is_refused_with_the_reason(
        at_an_ip: httpx.AsyncClient) -> None:
    flow = (await at_an_ip.post("/api/v1/flows/login")).json()
    answer = await at_an_ip.post(f"/api/v1/flows/{flow['id']}",
                                 json={"method": "webauthn", "credential": {}})
    assert answer.json()["error"]["code"] == "webauthn.unavailable"
    assert "IP address" in answer.json()["error"]["message"]


async def test_passkeys_are_offered_at_a_host_name(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/api/v1/flows/login")).json()
    assert "webauthn" in flow["data"]


async def test_an_empty_answer_from_the_browser_says_what_happened(
        client: httpx.AsyncClient) -> None:
    flow = (await client.post("/api/v1/flows/login")).json()
    answer = await client.post(f"/api/v1/flows/{flow['id']}",
                               json={"method": "webauthn", "credential": {}})
    message = answer.json()["error"]["message"]
    assert "could not be verified" not in message and "cancelled" in message
