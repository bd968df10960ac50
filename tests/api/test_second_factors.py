"""Second factors over the API: enrol, sign in with, and remove each one."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx
import pytest

from keepgate.config import Settings
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import (
    ORIGIN,
    current_code,
    device_headers,
    enrol_passkey,
    enrol_totp,
    password_step,
    settings_flow,
    step_up_with_totp,
    submit,
    with_totp_and_step_up,
)
from tests.conftest import (
    DEVICES,
    PASSWORD,
    bearer,
    last_code,
    last_message,
    recent_messages,
    register,
    serve,
    sign_in,
)
from tests.support.soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.anyio
ID = "two@example.com"


async def test_totp_enrol_sign_in_replay_and_drift(client: httpx.AsyncClient, kg: Keepgate,
                                                   clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    secret, codes = await enrol_totp(client, token, clock)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c.replace("-", "")) == 24 for c in codes)

    clock.advance(timedelta(seconds=31))
    after_password = await password_step(client, ID)
    flow = after_password.json()
    assert flow["state"] == "awaiting_second_factor"
    assert flow["methods"] == ["totp", "recovery_code"]  # no way around the second factor
    assert flow["session"] is None
    code = current_code(secret, clock)
    done = await submit(client, flow["id"], headers=device_headers(ID), method="totp", code=code)
    assert done.json()["state"] == "completed"
    assert done.json()["session"]["aal"] == "aal2"
    assert done.json()["session"]["methods"] == ["password", "totp"]

    # the same code, in the same 30 s step, is refused on a second sign-in
    again = (await password_step(client, ID)).json()
    replay = await submit(client, again["id"], headers=device_headers(ID), method="totp",
                          code=code)
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "code.invalid"
    # one step of drift either side is accepted, two are not
    late = await submit(client, again["id"], headers=device_headers(ID), method="totp",
                        code=current_code(secret, clock, -2))
    assert late.status_code == 400
    ahead = await submit(client, again["id"], headers=device_headers(ID), method="totp",
                         code=current_code(secret, clock, +1))
    assert ahead.json()["state"] == "completed"


async def test_recovery_codes_are_single_use(client: httpx.AsyncClient, kg: Keepgate,
                                             clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    _, codes = await enrol_totp(client, token, clock)
    first = (await password_step(client, ID)).json()
    used = await submit(client, first["id"], headers=device_headers(ID),
                        method="recovery_code", code=codes[0].lower().replace("-", " "))
    assert used.json()["state"] == "completed", used.text
    second = (await password_step(client, ID)).json()
    again = await submit(client, second["id"], headers=device_headers(ID),
                         method="recovery_code", code=codes[0])
    assert again.status_code == 400 and again.json()["error"]["code"] == "code.invalid"
    factors = (await client.get("/api/v1/security/factors", headers=bearer(token))).json()
    assert factors["recovery_codes_left"] == 9


async def test_sms_code_factor(client: httpx.AsyncClient, kg: Keepgate,
                               clock: FrozenClock) -> None:
    phone = "+447911123456"
    await register(client, kg, phone)
    token = await sign_in(client, phone)
    flow_id = await settings_flow(client, token)
    sent = await submit(client, flow_id, token, method="sms_code", action="send")
    assert sent.status_code == 200, sent.text
    confirmed = await submit(client, flow_id, token, method="sms_code",
                             code=await last_code(kg, phone), password=PASSWORD)
    assert confirmed.json()["messages"][0]["code"] == "factor.added"
    assert len(confirmed.json()["data"]["recovery_codes"]) == 10

    flow = (await password_step(client, phone)).json()
    assert flow["methods"] == ["sms_code", "recovery_code"]
    wrong_first = await submit(client, flow["id"], headers=device_headers(phone),
                               method="sms_code", code="123456")
    assert wrong_first.json()["error"]["code"] == "code.not_sent"  # ask explicitly first
    asked = await submit(client, flow["id"], headers=device_headers(phone), method="sms_code",
                         action="send")
    assert asked.status_code == 200
    too_soon = await submit(client, flow["id"], headers=device_headers(phone),
                            method="sms_code", action="resend")
    assert too_soon.status_code == 429 and "Retry-After" in too_soon.headers
    clock.advance(timedelta(minutes=6))  # sign-in codes live 5 minutes
    expired = await submit(client, flow["id"], headers=device_headers(phone), method="sms_code",
                           code=await last_code(kg, phone))
    assert expired.json()["error"]["code"] == "code.expired"
    await submit(client, flow["id"], headers=device_headers(phone), method="sms_code",
                 action="resend")
    done = await submit(client, flow["id"], headers=device_headers(phone), method="sms_code",
                        code=await last_code(kg, phone))
    assert done.json()["state"] == "completed", done.text


async def test_email_code_factor_and_enrolment_needs_a_fresh_sign_in(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    clock.advance(timedelta(minutes=16))
    stale = await settings_flow(client, token)
    refused = await submit(client, stale, token, method="email_code", action="send")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "fresh_sign_in_required"
    token = await sign_in(client, ID)
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="email_code", action="send")
    added = await submit(client, flow_id, token, method="email_code",
                         code=await last_code(kg, ID), password=PASSWORD)
    assert added.status_code == 200, added.text
    # with a factor in place, the next change needs step-up, and this account has no phone
    more = await submit(client, flow_id, token, method="sms_code", action="send")
    assert more.status_code == 403 and more.json()["error"]["code"] == "step_up_required"

    flow = (await password_step(client, ID)).json()
    await submit(client, flow["id"], headers=device_headers(ID), method="email_code",
                 action="send")
    done = await submit(client, flow["id"], headers=device_headers(ID), method="email_code",
                        code=await last_code(kg, ID))
    assert done.json()["state"] == "completed"


async def test_passkey_enrol_passwordless_and_as_second_factor(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    phone = SoftAuthenticator()
    added = await enrol_passkey(client, token, phone)
    assert added.status_code == 200, added.text
    assert len(added.json()["data"]["recovery_codes"]) == 10

    # passwordless: the flow offers passkey options from the start
    flow = (await client.post("/api/v1/flows/login", headers=device_headers(ID))).json()
    options = flow["data"]["webauthn"]
    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    done = await submit(client, flow["id"], headers=device_headers(ID), method="webauthn",
                        credential=phone.get(options, ORIGIN))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "completed" and done.json()["session"]["aal"] == "aal2"

    # without user verification, a passkey alone is refused
    flow = (await client.post("/api/v1/flows/login", headers=device_headers(ID))).json()
    no_uv = await submit(client, flow["id"], headers=device_headers(ID), method="webauthn",
                         credential=phone.get(flow["data"]["webauthn"], ORIGIN,
                                              user_verified=False))
    assert no_uv.status_code == 400
    assert no_uv.json()["error"]["code"] == "factor.invalid_response"
    assert no_uv.json()["flow"]["state"] == "awaiting_credentials"

    # as a second factor after the password
    second = (await password_step(client, ID)).json()
    assert second["methods"][0] == "webauthn"
    allowed = second["data"]["webauthn"]["allowCredentials"]
    assert len(allowed) == 1
    ok = await submit(client, second["id"], headers=device_headers(ID), method="webauthn",
                      credential=phone.get(second["data"]["webauthn"], ORIGIN))
    assert ok.json()["state"] == "completed", ok.text


async def test_removing_factors_needs_step_up_and_never_the_last(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, secret = await with_totp_and_step_up(client, kg, ID, clock)  # a rotated token
    key = SoftAuthenticator()
    added = await enrol_passkey(client, token, key, passkey=False, name="YubiKey")
    assert added.status_code == 200, added.text
    factors = (await client.get("/api/v1/security/factors", headers=bearer(token))).json()
    by_kind = {f["kind"]: f for f in factors["factors"]}
    assert set(by_kind) == {"totp", "webauthn"} and by_kind["webauthn"]["label"] == "YubiKey"

    clock.advance(timedelta(minutes=6))  # the step-up is stale now
    stale = await client.delete(f"/api/v1/security/factors/{by_kind['totp']['id']}",
                                headers=bearer(token))
    assert stale.status_code == 403
    assert stale.json()["error"]["code"] == "step_up_required"
    assert "step_up" in stale.json()["error"]["message"]
    assert stale.json()["error"]["details"]["step_up"]["start"] == "POST /api/v1/flows/step_up"

    token = await step_up_with_totp(client, token, secret, clock)
    removed = await client.delete(f"/api/v1/security/factors/{by_kind['webauthn']['id']}",
                                  headers=bearer(token))
    assert removed.status_code == 204
    last = await client.delete(f"/api/v1/security/factors/{by_kind['totp']['id']}",
                               headers=bearer(token))
    assert last.status_code == 409 and last.json()["error"]["code"] == "factor.last_factor"
    notice = [m for m in await recent_messages(kg) if m.template == "factor_removed"]
    assert len(notice) == 1 and "YubiKey" in notice[0].body


async def test_step_up_rotates_the_token(client: httpx.AsyncClient, kg: Keepgate,
                                         clock: FrozenClock) -> None:
    await register(client, kg, ID)
    old = await sign_in(client, ID)
    secret, _ = await enrol_totp(client, old, clock)
    clock.advance(timedelta(seconds=30))
    new = await step_up_with_totp(client, old, secret, clock)
    assert new != old
    assert (await client.get("/api/v1/me", headers=bearer(old))).status_code == 401
    me = (await client.get("/api/v1/me", headers=bearer(new))).json()
    assert me["session"]["aal"] == "aal2"


async def test_operator_may_allow_removing_the_last_factor(
        settings: Settings, clock: FrozenClock) -> None:
    lenient = dataclasses.replace(settings, allow_removing_last_factor=True)
    async with serve(lenient, clock) as (client, kg):
        token, _ = await with_totp_and_step_up(client, kg, ID, clock)
        [factor] = (await client.get("/api/v1/security/factors",
                                     headers=bearer(token))).json()["factors"]
        removed = await client.delete(f"/api/v1/security/factors/{factor['id']}",
                                      headers=bearer(token))
        after = (await password_step(client, ID)).json()
    assert removed.status_code == 204
    assert after["state"] == "completed"  # back to a password alone, as the operator allows


async def test_a_replayed_authenticator_code_is_audited_and_the_owner_told(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    identifier = "replay@example.com"
    await register(client, kg, identifier)
    secret, _ = await enrol_totp(client, await sign_in(client, identifier), clock)
    clock.advance(timedelta(seconds=30))
    code = current_code(secret, clock)
    device = {"X-Keepgate-Device": DEVICES[identifier]}
    first = (await password_step(client, identifier)).json()
    assert (await submit(client, first["id"], headers=device, method="totp", code=code)
            ).json()["state"] == "completed"
    again = (await password_step(client, identifier)).json()
    replayed = await submit(client, again["id"], headers=device, method="totp", code=code)
    assert replayed.status_code == 400 and replayed.json()["error"]["code"] == "code.invalid"
    notice = await last_message(kg, identifier)
    assert notice.template == "totp_replayed" and "already used" in notice.body
    async with kg.store.unit_of_work(write=False) as uow:
        records = await uow.audit.read()
    assert records[-1].event.details["reason"] == "totp_replayed"


async def test_signing_in_with_a_recovery_code_tells_every_contact_and_holds_withdrawals(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    identifier = "spent@example.com"
    await register(client, kg, identifier)
    token = await sign_in(client, identifier)
    _, codes = await enrol_totp(client, token, clock)
    flow = (await password_step(client, identifier)).json()
    done = await submit(client, flow["id"], headers={"X-Keepgate-Device": DEVICES[identifier]},
                        method="recovery_code", code=codes[0])
    assert done.json()["state"] == "completed"
    prompt = next(m for m in done.json()["messages"] if m["code"] == "recovery_code_used")
    assert "9 left" in prompt["text"] and "recovery codes" in prompt["text"]
    notice = await last_message(kg, identifier)
    assert notice.template == "recovery_code_used"
    assert "9 are left" in notice.body and "/not-me?token=" in notice.body
    mine = done.json()["session"]["token"]
    holds = (await client.get("/api/v1/security/holds", headers=bearer(mine))).json()
    assert [h["reason"] for h in holds] == ["recovery_code_used"]
    assert holds[0]["seconds_left"] == 24 * 3600
