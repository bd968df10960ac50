"""Sends per account and per IP, and the numbers we refuse to send codes to (issue 8, #2)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.config import Settings
from keepgate.domain.identifiers import parse_identifier
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import settings_flow, submit, with_totp_and_step_up
from tests.conftest import PASSWORD, recent_messages, register, sign_in

pytestmark = pytest.mark.anyio

ID = "sender@example.com"
NUMBERS = ["+447911123401", "+447911123402", "+447911123403", "+447911123404"]


async def test_one_account_cannot_fan_codes_out_to_many_numbers(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock, settings: Settings) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    app = create_app(settings, keepgate=kg)

    async def change_to(number: str, network: int) -> httpx.Response:
        """A contact change from its own network, so only the account's budget can bite."""
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{network}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as one:
            flow_id = await settings_flow(one, token)  # a new flow: no resend cooldown
            return await submit(one, flow_id, token, method="contact", kind="phone",
                                value=number)

    answers = [await change_to(number, n) for n, number in enumerate(NUMBERS)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[-1].json()["error"]["code"] == "code.send_limit_reached"
    assert answers[-1].headers["Retry-After"] == "60"
    sent = {m.destination for m in await recent_messages(kg) if m.template == "contact_code"}
    assert sent == set(NUMBERS[:3])
    clock.advance(timedelta(minutes=1))
    later = await change_to(NUMBERS[-1], 9)
    assert later.status_code == 200, later.text


async def test_one_ip_cannot_sign_up_many_numbers_a_minute(client: httpx.AsyncClient) -> None:
    answers = []
    for number in NUMBERS:
        flow = (await client.post("/api/v1/flows/registration")).json()
        answers.append(await client.post(f"/api/v1/flows/{flow['id']}", json={
            "method": "password", "identifier": number, "password": PASSWORD,
            "accept_terms": True}))
    assert [a.status_code for a in answers] == [200, 200, 200, 429]


async def test_sign_up_with_a_premium_rate_number_is_refused(client: httpx.AsyncClient,
                                                             kg: Keepgate) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    answer = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": "+1 900 234 5678", "password": PASSWORD,
        "accept_terms": True})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "identifier.phone_type_refused"
    assert await recent_messages(kg) == []


async def test_a_contact_change_to_a_shared_cost_number_is_refused(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    flow_id = await settings_flow(client, token)
    answer = await submit(client, flow_id, token, method="contact", kind="phone",
                          value="+33884012345")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "identifier.phone_type_refused"


async def test_a_contact_change_to_a_non_ascii_address_is_refused(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    flow_id = await settings_flow(client, token)
    answer = await submit(client, flow_id, token, method="contact", kind="email",
                          value="\u0430lice@example.com")
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "identifier.email_not_ascii"


async def test_sign_up_with_a_look_alike_address_is_refused(client: httpx.AsyncClient,
                                                            kg: Keepgate) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    answer = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": "\u0430lice@example.com", "password": PASSWORD,
        "accept_terms": True})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "identifier.email_not_ascii"
    assert await recent_messages(kg) == []


async def test_sms_codes_are_not_enrolled_on_a_premium_number_from_before(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    """A number accepted before the rule keeps signing in, but gets no SMS factor."""
    await register(client, kg, ID)
    async with kg.store.unit_of_work(write=True) as uow:
        account = await uow.accounts.find(parse_identifier(ID))
        assert account is not None
        assert await uow.accounts.update_security(account.id, account.security_version,
                                                  phone="+19002345678")
    token = await sign_in(client, ID)
    flow_id = await settings_flow(client, token)
    refused = await submit(client, flow_id, token, method="sms_code", action="send")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "identifier.phone_type_refused"
    assert [m for m in await recent_messages(kg) if m.destination == "+19002345678"] == []
