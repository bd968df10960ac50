"""An account without a second factor makes no security change but enrolling its first factor,
and that on a sign-in at most five minutes old."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import settings_flow, submit
from tests.conftest import PASSWORD, bearer, register, sign_in

pytestmark = pytest.mark.anyio
ID = "nofactor@example.com"


async def test_security_changes_ask_for_a_second_factor_first(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    clock.advance(timedelta(seconds=370))  # the finding's probe
    answers = [
        await client.put("/api/v1/security/anti-phishing-code", json={"code": "Blue42"},
                         headers=bearer(token)),
        await client.post("/api/v1/security/password", headers=bearer(token), json={
            "current_password": PASSWORD, "new_password": "a brand new passphrase here"}),
        await submit(client, await settings_flow(client, token), token, method="contact",
                     kind="email", value="elsewhere@example.com"),
    ]
    for answer in answers:
        assert answer.status_code == 403, answer.text
        error = answer.json()["error"]
        assert error["code"] == "second_factor_required"
        assert error["details"]["enrol"]["page"] == "/account/security"


async def test_the_first_factor_needs_a_sign_in_at_most_five_minutes_old(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    clock.advance(timedelta(minutes=5, seconds=1))
    refused = await submit(client, await settings_flow(client, token), token, method="totp")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "fresh_sign_in_required"
    token = await sign_in(client, ID)
    started = await submit(client, await settings_flow(client, token), token, method="totp")
    assert started.status_code == 200, started.text
