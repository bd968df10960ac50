"""Notices that were missing (issue 8, #6): regenerated recovery codes, muting needs step-up,
an email change tells the new address and the phone, and the code sent to a new address
carries the anti-phishing code."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import (
    enrol_totp,
    settings_flow,
    step_up_with_totp,
    submit,
    with_totp_and_step_up,
)
from tests.conftest import (
    PASSWORD,
    bearer,
    last_code,
    recent_messages,
    register,
    sign_in,
)

pytestmark = pytest.mark.anyio

ID = "notices@example.com"
PHONE = "+447911123456"
NEW = "moved@example.com"


async def test_regenerating_recovery_codes_sends_a_notice(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    flow_id = await settings_flow(client, token)
    done = await submit(client, flow_id, token, method="recovery_code", action="regenerate")
    assert done.status_code == 200, done.text
    notices = [m for m in await recent_messages(kg) if m.template == "recovery_codes_regenerated"]
    assert [m.destination for m in notices] == [ID]
    assert "recovery codes" in notices[0].body and "http://localhost/" in notices[0].body


async def test_a_muted_regeneration_notice_stays_silent(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    muted = await client.put("/api/v1/security/notifications",
                             json={"muted": ["recovery_codes_regenerated"]},
                             headers=bearer(token))
    assert muted.status_code == 200, muted.text
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="recovery_code", action="regenerate")
    assert "recovery_codes_regenerated" not in [m.template for m in await recent_messages(kg)]


@pytest.mark.parametrize("notice", ["anti_phishing_changed", "recovery_codes_regenerated"])
async def test_muting_a_notice_needs_step_up(client: httpx.AsyncClient, kg: Keepgate,
                                             clock: FrozenClock, notice: str) -> None:
    token, secret = await with_totp_and_step_up(client, kg, ID, clock)
    clock.advance(timedelta(minutes=6))  # the step-up is no longer fresh
    refused = await client.put("/api/v1/security/notifications", json={"muted": [notice]},
                               headers=bearer(token))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "step_up_required"
    token = await step_up_with_totp(client, token, secret, clock)
    muted = await client.put("/api/v1/security/notifications", json={"muted": [notice]},
                             headers=bearer(token))
    assert muted.status_code == 200 and muted.json()["muted"] == [notice]
    clock.advance(timedelta(minutes=6))
    unmuted = await client.put("/api/v1/security/notifications", json={"muted": []},
                               headers=bearer(token))  # hearing more needs no step-up
    assert unmuted.status_code == 200 and unmuted.json()["muted"] == []


async def _with_phone_and_totp(client: httpx.AsyncClient, kg: Keepgate,
                               clock: FrozenClock) -> str:
    """An account with an email, a phone and TOTP, freshly stepped up; returns the token.

    TOTP comes first: a contact change needs a second factor (finding 3 of issue 8)."""
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    secret, _ = await enrol_totp(client, token, clock)
    clock.advance(timedelta(seconds=30))
    token = await step_up_with_totp(client, token, secret, clock)
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="contact", kind="phone", value=PHONE)
    added = await submit(client, flow_id, token, method="contact",
                         code=await last_code(kg, PHONE), password=PASSWORD)
    assert added.status_code == 200, added.text
    return token


async def test_an_email_change_tells_the_old_and_new_address_and_the_phone(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token = await _with_phone_and_totp(client, kg, clock)
    before = len(await recent_messages(kg, 500))
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="contact", kind="email", value=NEW)
    done = await submit(client, flow_id, token, method="contact", code=await last_code(kg, NEW),
                        password=PASSWORD)
    assert done.status_code == 200, done.text
    after = (await recent_messages(kg, 500))[:len(await recent_messages(kg, 500)) - before]
    told = {(m.destination, m.template) for m in after if m.template != "contact_code"}
    assert told == {(ID, "contact_changed"), (PHONE, "contact_changed"),
                    (NEW, "contact_confirmed")}
    to_phone = next(m for m in after if m.destination == PHONE)
    assert "/undo-contact?token=" in to_phone.body


async def test_the_code_to_a_new_address_carries_the_anti_phishing_code(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ID, clock)
    set_code = await client.put("/api/v1/security/anti-phishing-code",
                                json={"code": "Blue42Owl"}, headers=bearer(token))
    assert set_code.status_code == 204, set_code.text
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="contact", kind="email", value=NEW)
    code_message = next(m for m in await recent_messages(kg) if m.destination == NEW)
    assert code_message.template == "contact_code"
    assert "Your anti-phishing code: Blue42Owl" in code_message.body
