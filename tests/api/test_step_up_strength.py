"""Step-up carries the strength of what was proven: an email code alone never approves a
security change on an account that has a strong factor (TOTP, a passkey, SMS)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import (
    device_headers,
    password_step,
    settings_flow,
    step_up_with_totp,
    submit,
    with_totp_and_step_up,
)
from tests.conftest import PASSWORD, bearer, last_code, last_message

pytestmark = pytest.mark.anyio
ID = "strength@example.com"


async def add_email_code(client: httpx.AsyncClient, kg: Keepgate, token: str) -> None:
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="email_code", action="send")
    added = await submit(client, flow_id, token, method="email_code",
                         code=await last_code(kg, ID), password=PASSWORD)
    assert added.status_code == 200, added.text


async def sign_in_with_email_code(client: httpx.AsyncClient, kg: Keepgate) -> str:
    flow = (await password_step(client, ID)).json()
    await submit(client, flow["id"], headers=device_headers(ID), method="email_code",
                 action="send")
    done = await submit(client, flow["id"], headers=device_headers(ID), method="email_code",
                        code=await last_code(kg, ID))
    assert done.json()["state"] == "completed", done.text
    return str(done.json()["session"]["token"])


async def test_an_email_code_sign_in_cannot_remove_the_authenticator_app(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, secret = await with_totp_and_step_up(client, kg, ID, clock)
    await add_email_code(client, kg, token)
    factors = (await client.get("/api/v1/security/factors", headers=bearer(token))).json()
    totp_id = next(f["id"] for f in factors["factors"] if f["kind"] == "totp")

    weak = await sign_in_with_email_code(client, kg)
    me = (await client.get("/api/v1/me", headers=bearer(weak))).json()["session"]
    assert me["aal"] == "aal2" and me["methods"] == ["password", "email_code"]
    assert me["strong_factor"] is False and me["strong_factor_at"] is None
    assert me["second_factor_at"] is not None

    refused = await client.delete(f"/api/v1/security/factors/{totp_id}", headers=bearer(weak))
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "strong_factor_required"
    assert error["details"]["step_up"]["start"] == "POST /api/v1/flows/step_up"

    # the step-up flow offers only the strong methods to this account
    started = await client.post("/api/v1/flows/step_up", headers=bearer(weak))
    assert "email_code" not in started.json()["methods"]
    assert started.json()["methods"][0] == "totp"

    clock.advance(timedelta(seconds=30))
    strong = await step_up_with_totp(client, weak, secret, clock)
    me = (await client.get("/api/v1/me", headers=bearer(strong))).json()["session"]
    assert me["strong_factor"] is True and me["strong_factor_at"] is not None
    removed = await client.delete(f"/api/v1/security/factors/{totp_id}", headers=bearer(strong))
    assert removed.status_code == 204, removed.text


async def test_an_email_code_alone_cannot_set_the_anti_phishing_code(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    await add_email_code(client, kg, token)
    weak = await sign_in_with_email_code(client, kg)
    refused = await client.put("/api/v1/security/anti-phishing-code", json={"code": "Blue42"},
                               headers=bearer(weak))
    assert refused.json()["error"]["code"] == "strong_factor_required"
    flow_id = await settings_flow(client, weak)
    refused = await submit(client, flow_id, weak, method="recovery_code", action="regenerate")
    assert refused.json()["error"]["code"] == "strong_factor_required"


async def test_removing_the_last_strong_factor_holds_withdrawals(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    await add_email_code(client, kg, token)
    factors = (await client.get("/api/v1/security/factors", headers=bearer(token))).json()
    ids = {f["kind"]: f["id"] for f in factors["factors"]}
    removed = await client.delete(f"/api/v1/security/factors/{ids['totp']}",
                                  headers=bearer(token))
    assert removed.status_code == 204, removed.text
    holds = (await client.get("/api/v1/security/holds", headers=bearer(token))).json()
    assert [h["reason"] for h in holds] == ["strong_factor_removed"]
    assert holds[0]["seconds_left"] == 24 * 3600
    assert (await last_message(kg, ID)).template == "factor_removed"


async def test_removing_an_email_code_beside_a_strong_factor_holds_nothing(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    await add_email_code(client, kg, token)
    factors = (await client.get("/api/v1/security/factors", headers=bearer(token))).json()
    email = next(f["id"] for f in factors["factors"] if f["kind"] == "email_code")
    removed = await client.delete(f"/api/v1/security/factors/{email}", headers=bearer(token))
    assert removed.status_code == 204, removed.text
    assert (await client.get("/api/v1/security/holds", headers=bearer(token))).json() == []
