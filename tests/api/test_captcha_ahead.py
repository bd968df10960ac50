"""A flow that will need proof of work says so before it demands it (``captcha`` in
``methods``, the challenge in ``data``, the widget on the page), never first refusing."""

from __future__ import annotations

import httpx
import pytest

from keepgate.security.captcha import solve_for_tests
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import submit
from tests.conftest import PASSWORD, register

pytestmark = pytest.mark.anyio
ID = "ahead@example.com"
WRONG = "definitely not the password"


async def throttle_this_ip(client: httpx.AsyncClient) -> None:
    for n in range(21):
        flow = (await client.post("/api/v1/flows/login")).json()
        await submit(client, flow["id"], method="password", identifier=f"u{n}@example.com",
                     password=WRONG)


@pytest.mark.parametrize("kind", ["login", "registration"])
async def test_a_flow_from_a_throttled_ip_offers_the_captcha_when_created(
        client: httpx.AsyncClient, kind: str) -> None:
    fresh = (await client.post(f"/api/v1/flows/{kind}")).json()
    assert "captcha" not in fresh["methods"] and "captcha" not in fresh["data"]
    await throttle_this_ip(client)
    flow = (await client.post(f"/api/v1/flows/{kind}")).json()
    assert "captcha" in flow["methods"]
    assert "signature" in flow["data"]["captcha"]


@pytest.mark.parametrize("page", ["/login", "/signup"])
async def test_pages_from_a_throttled_ip_carry_the_widget_from_the_start(
        client: httpx.AsyncClient, page: str) -> None:
    assert "altcha-widget" not in (await client.get(page, follow_redirects=True)).text
    await throttle_this_ip(client)
    assert "<altcha-widget" in (await client.get(page, follow_redirects=True)).text


async def test_the_failure_that_makes_proof_necessary_carries_the_challenge(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, ID)
    flow = (await client.post("/api/v1/flows/login")).json()
    answers = [await submit(client, flow["id"], method="password", identifier=ID,
                            password=WRONG) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert "captcha" not in answers[1].json()["flow"]["methods"]
    third = answers[2].json()["flow"]
    assert "captcha" in third["methods"] and "signature" in third["data"]["captcha"]
    # solving the challenge it was given is enough: no refusal without a widget first
    answer = await submit(client, flow["id"], method="password", identifier=ID,
                          password=PASSWORD, captcha=solve_for_tests(third["data"]["captcha"]))
    assert answer.status_code == 200, answer.text
