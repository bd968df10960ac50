"""Helpers for second-factor tests: settings flows, TOTP codes, passkeys, step-up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from keepgate.security import totp
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.conftest import DEVICES, PASSWORD, bearer, last_code, register, sign_in
from tests.support.soft_authenticator import SoftAuthenticator

ORIGIN = "http://localhost"


async def settings_flow(client: httpx.AsyncClient, token: str) -> str:
    response = await client.post("/api/v1/flows/settings", headers=bearer(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def submit(client: httpx.AsyncClient, flow_id: str, token: str | None = None,
                 headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    merged = {**(bearer(token) if token else {}), **(headers or {})}
    return await client.post(f"/api/v1/flows/{flow_id}", json=body, headers=merged)


def current_code(secret: str, clock: FrozenClock, offset: int = 0) -> str:
    return totp.code_at(secret, totp.step_of(clock.now()) + offset)


async def enrol_totp(client: httpx.AsyncClient, token: str, clock: FrozenClock,
                     password: str = PASSWORD) -> tuple[str, list[str]]:
    flow_id = await settings_flow(client, token)
    started = await submit(client, flow_id, token, method="totp")
    assert started.status_code == 200, started.text
    data = started.json()["data"]
    assert data["otpauth_uri"].startswith("otpauth://totp/Keepgate:")
    assert data["qr_svg"].startswith("<svg") and len(data["secret"]) == 32
    confirmed = await submit(client, flow_id, token, method="totp",
                             code=current_code(data["secret"], clock), password=password)
    assert confirmed.status_code == 200, confirmed.text
    return data["secret"], list(confirmed.json()["data"].get("recovery_codes", []))


async def password_step(client: httpx.AsyncClient, identifier: str, *,
                        device: str | None = "registered",
                        password: str = PASSWORD) -> httpx.Response:
    """Start a sign-in and submit the password; returns the answer."""
    headers = {}
    token = DEVICES.get(identifier) if device == "registered" else device
    if token:
        headers["X-Keepgate-Device"] = token
    flow = (await client.post("/api/v1/flows/login", headers=headers)).json()
    return await submit(client, flow["id"], headers=headers, method="password",
                        identifier=identifier, password=password)


def device_headers(identifier: str) -> dict[str, str]:
    return {"X-Keepgate-Device": DEVICES[identifier]}


async def step_up_with_totp(client: httpx.AsyncClient, token: str, secret: str,
                            clock: FrozenClock, offset: int = 0) -> str:
    """Run a step-up flow; returns the rotated bearer token."""
    started = await client.post("/api/v1/flows/step_up", headers=bearer(token))
    assert started.status_code == 201, started.text
    done = await submit(client, started.json()["id"], token, method="totp",
                        code=current_code(secret, clock, offset))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "completed"
    return str(done.json()["session"]["token"])


async def with_totp_and_step_up(client: httpx.AsyncClient, kg: Keepgate, identifier: str,
                                clock: FrozenClock) -> tuple[str, str]:
    """Register, sign in, enrol TOTP and step up half a minute later (so the code is fresh);
    returns (bearer token, TOTP secret)."""
    await register(client, kg, identifier)
    token = await sign_in(client, identifier)
    secret, _ = await enrol_totp(client, token, clock)
    clock.advance(timedelta(seconds=30))
    return await step_up_with_totp(client, token, secret, clock), secret


async def enrol_passkey(client: httpx.AsyncClient, token: str, authenticator: SoftAuthenticator,
                        *, passkey: bool = True, name: str = "My phone") -> httpx.Response:
    flow_id = await settings_flow(client, token)
    options = (await submit(client, flow_id, token, method="webauthn",
                            passkey=passkey)).json()["data"]["webauthn"]
    credential = authenticator.create(options, ORIGIN)
    return await submit(client, flow_id, token, method="webauthn", credential=credential,
                        name=name, password=PASSWORD)


async def code_for(kg: Keepgate, destination: str) -> str:
    return await last_code(kg, destination)
