"""Sign-in, sessions, timeouts and revocation over the API."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.domain.audit import EventKind
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.conftest import (
    DEVICES,
    PASSWORD,
    bearer,
    error_apart_from_reference,
    register,
    sign_in,
)

pytestmark = pytest.mark.anyio

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


async def login_attempt(client: httpx.AsyncClient, identifier: str,
                        password: str) -> httpx.Response:
    flow = (await client.post("/api/v1/flows/login")).json()
    return await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": identifier, "password": password})


async def test_wrong_password_and_unknown_account_answer_alike(client: httpx.AsyncClient,
                                                               kg: Keepgate) -> None:
    await register(client, kg, "known@example.com")
    wrong = await login_attempt(client, "known@example.com", "not the right password")
    unknown = await login_attempt(client, "nobody@example.com", "not the right password")
    assert wrong.status_code == unknown.status_code == 401
    assert error_apart_from_reference(wrong) == error_apart_from_reference(unknown)
    assert wrong.json()["error"]["code"] == "login.invalid_credentials"
    assert wrong.json()["flow"]["messages"] == unknown.json()["flow"]["messages"]
    assert wrong.json()["flow"]["state"] == "awaiting_credentials"


async def test_a_completed_flow_cannot_be_reused(client: httpx.AsyncClient,
                                                 kg: Keepgate) -> None:
    await register(client, kg, "once@example.com")
    flow = (await client.post("/api/v1/flows/login")).json()
    body = {"method": "password", "identifier": "once@example.com", "password": PASSWORD}
    first = await client.post(f"/api/v1/flows/{flow['id']}", json=body,
                              headers={"X-Keepgate-Device": DEVICES["once@example.com"]})
    assert first.json()["state"] == "completed"
    token = first.json()["session"]["token"]
    again = await client.post(f"/api/v1/flows/{flow['id']}", json=body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "flow.completed"
    read = (await client.get(f"/api/v1/flows/{flow['id']}")).json()
    assert read["state"] == "completed" and read["session"] is None  # the token is shown once
    assert token not in (await client.get(f"/api/v1/flows/{flow['id']}")).text


async def test_idle_timeout_and_activity(client: httpx.AsyncClient, kg: Keepgate,
                                         clock: FrozenClock) -> None:
    await register(client, kg, "idle@example.com")
    token = await sign_in(client, "idle@example.com")
    for _ in range(3):  # activity every 20 minutes keeps the session alive past 30 minutes
        clock.advance(timedelta(minutes=20))
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    clock.advance(timedelta(minutes=30))
    expired = await client.get("/api/v1/me", headers=bearer(token))
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"].startswith("Bearer")


async def test_absolute_timeout_ends_even_an_active_session(client: httpx.AsyncClient,
                                                            kg: Keepgate,
                                                            clock: FrozenClock) -> None:
    await register(client, kg, "abs@example.com")
    token = await sign_in(client, "abs@example.com")
    for _ in range(47):
        clock.advance(timedelta(minutes=15))
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    clock.advance(timedelta(minutes=15))  # 12 hours after sign-in
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_list_and_revoke_sessions(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, "many@example.com")
    await register(client, kg, "other@example.com")
    phone = await sign_in(client, "many@example.com")
    laptop = await sign_in(client, "many@example.com", user_agent=FIREFOX)
    tablet = await sign_in(client, "many@example.com")
    stranger = await sign_in(client, "other@example.com")

    listed = (await client.get("/api/v1/sessions", headers=bearer(phone))).json()["sessions"]
    assert len(listed) == 3 and sum(s["current"] for s in listed) == 1
    assert "Firefox on Windows" in {s["device"] for s in listed}
    assert all("token" not in s and "token_hash" not in s for s in listed)
    laptop_id = (await client.get("/api/v1/me", headers=bearer(laptop))).json()["session"]["id"]

    # Another account's session id is as good as unknown.
    foreign = await client.delete(f"/api/v1/sessions/{laptop_id}", headers=bearer(stranger))
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "session.not_found"
    assert (await client.get("/api/v1/me", headers=bearer(laptop))).status_code == 200

    assert (await client.delete(f"/api/v1/sessions/{laptop_id}",
                                headers=bearer(phone))).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer(laptop))).status_code == 401
    again = await client.delete(f"/api/v1/sessions/{laptop_id}", headers=bearer(phone))
    assert again.status_code == 404

    others = await client.delete("/api/v1/sessions", headers=bearer(phone))
    assert others.json() == {"revoked": 1}
    assert (await client.get("/api/v1/me", headers=bearer(tablet))).status_code == 401
    assert (await client.get("/api/v1/me", headers=bearer(phone))).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(stranger))).status_code == 200


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nope", "Basic dXNlcjpwYXNz",
                                    "Bearer " + "x" * 500])
async def test_bad_tokens_are_refused(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.required"


async def test_security_events_are_audited_without_secrets(client: httpx.AsyncClient,
                                                           kg: Keepgate) -> None:
    await register(client, kg, "audit@example.com")
    await login_attempt(client, "audit@example.com", "wrong password here")
    token = await sign_in(client, "audit@example.com")
    await client.post("/api/v1/logout", headers=bearer(token))
    async with kg.store.unit_of_work(write=False) as uow:
        records = await uow.audit.read()
    kinds = [(r.event.kind, r.event.outcome.value) for r in records]
    # the sign-up code is recorded before any account exists (as an attempt on an existing
    # address is, so both answers cost the same); ``register`` ends the session the sign-up
    # opened: the first logout
    assert kinds == [(EventKind.SIGNUP_CODE_SENT, "success"), (EventKind.SIGNUP, "success"),
                     (EventKind.LOGOUT, "success"),
                     (EventKind.LOGIN, "failure"), (EventKind.LOGIN, "success"),
                     (EventKind.LOGOUT, "success")]
    assert all(r.event.ip == "203.0.113.7" and "Chrome" in r.event.user_agent for r in records)
    assert records[0].event.account_id is None
    assert all(r.event.account_id == records[1].event.account_id for r in records[1:])
    text = repr([r.event.details for r in records])
    assert PASSWORD not in text and "wrong password" not in text and token not in text
    assert "audit@example.com" not in text  # identifiers are masked
