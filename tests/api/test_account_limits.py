"""The account home's tier card and ``GET /api/v1/account/limits``: the tier, what it unlocks,
the limits used and left (amounts as strings), and what the next tier unlocks and how."""

from __future__ import annotations

import re

import httpx
import pytest

from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.kyc import Capability
from keepgate.wiring import Keepgate
from tests.api.test_pages import open_flow
from tests.conftest import PASSWORD, bearer, last_code, register, sign_in
from tests.unit.services.records import set_tier

pytestmark = pytest.mark.anyio


async def account_id(client: httpx.AsyncClient, token: str) -> str:
    return str((await client.get("/api/v1/me", headers=bearer(token))).json()["id"])


async def test_a_new_account_sees_tier_zero_and_the_way_up(client: httpx.AsyncClient,
                                                          kg: Keepgate) -> None:
    await register(client, kg, "lim@example.com")
    token = await sign_in(client, "lim@example.com")
    body = (await client.get("/api/v1/account/limits", headers=bearer(token))).json()
    assert body["kyc_tier"] == 0 and body["currency"] == "USD"
    assert body["unlocked"] == ["view_markets"] and body["limits"] == []
    assert body["next_tier"]["level"] == 1
    assert body["next_tier"]["requirements"] == ["Full legal name", "Date of birth",
                                                 "Country of residence", "National ID number"]
    assert body["next_tier"]["how"]
    assert body["next_unlocks"] == ["deposit", "trade", "withdraw"]
    assert {"capability": "withdraw", "daily": "5000.00", "monthly": "20000.00"} in (
        body["next_limits"])


async def test_limits_used_and_left_follow_the_reservations(client: httpx.AsyncClient,
                                                            kg: Keepgate) -> None:
    await register(client, kg, "used@example.com")
    token = await sign_in(client, "used@example.com")
    me = await account_id(client, token)
    await set_tier(kg.store, me, 1)
    await kg.limits.reserve(me, Capability.WITHDRAW, "1234.56", "payout-1")
    await kg.limits.commit(me, "payout-1")
    await kg.limits.reserve(me, Capability.WITHDRAW, "0.44", "payout-2")
    body = (await client.get("/api/v1/account/limits", headers=bearer(token))).json()
    assert body["kyc_tier"] == 1 and "api_access" not in body["unlocked"]
    withdraw = next(x for x in body["limits"] if x["capability"] == "withdraw")
    assert withdraw == {"capability": "withdraw", "label": "Withdraw", "daily": "5000.00",
                        "monthly": "20000.00", "used_today": "1235.00",
                        "used_this_month": "1235.00", "left_today": "3765.00",
                        "left_this_month": "18765.00", "left": "3765.00"}
    assert body["next_tier"]["level"] == 2 and body["next_unlocks"] == ["api_access"]


async def test_the_limits_need_a_session(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/account/limits")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "auth.required"


async def test_the_account_page_shows_the_tier_card(client: httpx.AsyncClient,
                                                    kg: Keepgate) -> None:
    url, csrf = await open_flow(client, "/signup")
    await client.post(url, data={"csrf_token": csrf, "method": "password",
                                 "identifier": "card@example.com", "password": PASSWORD,
                                 "accept_terms": "yes"})
    code = await last_code(kg, "card@example.com")
    await client.post(url, data={"csrf_token": csrf, "method": "code", "code": code})
    page = (await client.get("/account")).text
    card = page[page.index('class="card tier-card"'):]
    card = card[:card.index("</section>")]
    assert "tier 0 · Unverified" in card
    assert "Next: tier 1 · Basic verification" in card
    assert "Withdraw up to 5,000.00 a day and 20,000.00 a month (USD)" in card
    assert "Not yet: Deposit, Trade, Withdraw, API access." in card
    assert "Your limits" not in card  # tier 0 moves no money

    async with kg.store.unit_of_work(write=False) as uow:
        found = await uow.accounts.find(Identifier(IdentifierKind.EMAIL, "card@example.com"))
    assert found is not None
    me = found.id
    await set_tier(kg.store, me, 3)
    await kg.limits.reserve(me, Capability.TRADE, "2500", "order-1")
    card = (await client.get("/account")).text
    card = card[card.index('class="card tier-card"'):]
    row = re.search(r'<tr data-capability="trade">(.*?)</tr>', card, re.DOTALL)
    assert row is not None
    assert "2,500.00 of 2,500,000.00" in row.group(1) and "2,497,500.00" in row.group(1)
    assert "highest tier" in card
