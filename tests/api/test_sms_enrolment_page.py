"""The SMS enrolment page explains SIM-swap risk and points to the stronger factors."""

from __future__ import annotations

import httpx
import pytest

from keepgate.wiring import Keepgate
from tests.api.page_helpers import csrf, follow
from tests.conftest import PASSWORD, last_code

pytestmark = pytest.mark.anyio
PHONE = "+447911123456"
async def signed_up_by_phone(client: httpx.AsyncClient, kg: Keepgate) -> None:
    page = await follow(client, await client.get("/signup"))
    url = str(page.url)
    await client.post(url, data={"csrf_token": csrf(page.text), "method": "password",
                                 "identifier": PHONE, "password": PASSWORD,
                                 "accept_terms": "yes"})
    done = await client.post(url, data={"csrf_token": csrf(page.text), "method": "code",
                                        "code": await last_code(kg, PHONE)})
    assert done.headers["location"] == "/account", done.text  # signed in by the sign-up


async def test_sms_setup_warns_of_sim_swaps_and_recommends_app_or_passkey(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_by_phone(client, kg)
    page = await follow(client, await client.get("/account/security/setup?method=sms_code"))
    assert page.status_code == 200
    assert "SIM swap" in page.text
    assert 'href="/account/security/setup?method=totp"' in page.text
    assert 'href="/account/security/setup?method=webauthn"' in page.text
    email = await follow(client, await client.get("/account/security/setup?method=email_code"))
    assert "SIM swap" not in email.text
