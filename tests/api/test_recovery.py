"""The forgotten-password flow over the API, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from keepgate.domain.accounts import Account
from keepgate.domain.holds import HoldReason
from keepgate.domain.identifiers import parse_identifier
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import (
    ORIGIN,
    current_code,
    enrol_passkey,
    enrol_totp,
    settings_flow,
    submit,
    with_totp_and_step_up,
)
from tests.conftest import (
    CODE_RE,
    PASSWORD,
    bearer,
    last_code,
    last_message,
    recent_messages,
    register,
    sign_in,
)
from tests.support.soft_authenticator import SoftAuthenticator

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "purple elephants juggle quietly at dawn"
EMAIL = "jane@example.com"
PHONE = "+447911123456"


async def start(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/flows/recovery")
    assert response.status_code == 201, response.text
    assert response.json()["methods"] == ["identifier"]
    return str(response.json()["id"])


async def reset_code(kg: Keepgate, destination: str) -> str:
    message = await last_message(kg, destination)
    assert message.template == "recovery_code"
    found = CODE_RE.search(message.body)
    assert found is not None
    return found.group(1)


async def account_of(kg: Keepgate, identifier: str) -> Account:
    async with kg.store.unit_of_work(write=False) as uow:
        account = await uow.accounts.find(parse_identifier(identifier))
    assert account is not None
    return account


async def to_password_step(client: httpx.AsyncClient, kg: Keepgate, identifier: str) -> str:
    flow_id = await start(client)
    sent = await submit(client, flow_id, method="identifier", identifier=identifier)
    assert sent.status_code == 200, sent.text
    code = await reset_code(kg, parse_identifier(identifier).value)
    proven = await submit(client, flow_id, method="code", code=code)
    assert proven.status_code == 200, proven.text
    return flow_id


async def sign_in_anew(client: httpx.AsyncClient, kg: Keepgate, identifier: str,
                       password: str) -> httpx.Response:
    """Sign in from a device the reset made the account forget: password, then device code."""
    flow = (await client.post("/api/v1/flows/login")).json()
    answer = await submit(client, flow["id"], method="password", identifier=identifier,
                          password=password)
    if answer.status_code != 200 or answer.json()["state"] != "awaiting_device_code":
        return answer
    code = (await last_message(kg, identifier)).body.split("confirm the device:")[1].split()[0]
    return await submit(client, flow["id"], method="device_code", code=code)


async def test_a_reset_ends_every_session_holds_withdrawals_and_tells_the_owner(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    token = await sign_in(client, EMAIL)
    account = await account_of(kg, EMAIL)
    async with kg.store.unit_of_work(write=True) as uow:
        assert await uow.accounts.update_security(account.id, account.security_version,
                                                  anti_phishing_code="BLUE-OTTER")
    flow_id = await to_password_step(client, kg, EMAIL)
    weak = await submit(client, flow_id, method="new_password", password="password123")
    assert weak.status_code == 400 and weak.json()["error"]["code"].startswith("password.")
    done = await submit(client, flow_id, method="new_password", password=NEW_PASSWORD)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "completed" and done.json()["data"] == {"locked": False}
    assert "session" not in done.json() or done.json()["session"] is None

    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401
    async with kg.store.unit_of_work(write=False) as uow:
        holds = await uow.holds.for_account(account.id)
        devices = [d for d in await uow.devices.for_account(account.id)
                   if d.usable(kg.clock.now())]
        events = await uow.audit.for_account(account.id, ["password.reset"])
    assert [h.reason for h in holds] == [HoldReason.PASSWORD_RESET]
    assert holds[0].expires_at - holds[0].created_at == timedelta(hours=24)
    assert devices == []
    assert len(events) == 1 and events[0].event.details["methods"] == ["email_code"]
    notice = await last_message(kg, EMAIL)
    assert notice.template == "password_reset"
    assert notice.body.startswith("Your anti-phishing code: BLUE-OTTER")
    assert "/not-me?token=" in notice.body and "/recover" in notice.body

    assert (await sign_in_anew(client, kg, EMAIL, PASSWORD)).json()["error"]["code"] == \
        "login.invalid_credentials"
    signed_in = await sign_in_anew(client, kg, EMAIL, NEW_PASSWORD)
    assert signed_in.json()["state"] == "completed", signed_in.text


async def test_every_contact_is_told(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    account = await account_of(kg, EMAIL)
    async with kg.store.unit_of_work(write=True) as uow:
        assert await uow.accounts.update_security(account.id, account.security_version,
                                                  phone="+447911123456")
    flow_id = await to_password_step(client, kg, "+447911123456")
    done = await submit(client, flow_id, method="new_password", password=NEW_PASSWORD)
    assert done.json()["state"] == "completed", done.text
    told = {(m.destination, m.channel) for m in await recent_messages(kg)
            if m.template == "password_reset"}
    assert told == {(EMAIL, "email"), ("+447911123456", "sms")}


async def test_a_second_factor_is_never_bypassed(client: httpx.AsyncClient, kg: Keepgate,
                                                 clock: FrozenClock) -> None:
    await register(client, kg, EMAIL)
    token = await sign_in(client, EMAIL)
    secret, _ = await enrol_totp(client, token, clock)
    clock.advance(timedelta(seconds=30))
    flow_id = await to_password_step(client, kg, EMAIL)
    flow = (await client.get(f"/api/v1/flows/{flow_id}")).json()
    assert flow["state"] == "awaiting_second_factor"
    # The reset code proved the mailbox: an email code is never the second proof.
    assert flow["methods"] == ["totp", "recovery_code"]
    skipped = await submit(client, flow_id, method="new_password", password=NEW_PASSWORD)
    assert skipped.json()["error"]["code"] == "flow.method_not_allowed"
    emailed = await submit(client, flow_id, method="email_code", action="send")
    assert emailed.json()["error"]["code"] == "flow.method_not_allowed"
    wrong = await submit(client, flow_id, method="totp", code="000000")
    assert wrong.status_code == 400 and wrong.json()["flow"]["state"] == "awaiting_second_factor"
    right = await submit(client, flow_id, method="totp", code=current_code(secret, clock))
    assert right.json()["state"] == "awaiting_password", right.text
    done = await submit(client, flow_id, method="new_password", password=NEW_PASSWORD)
    assert done.json()["state"] == "completed"
    account = await account_of(kg, EMAIL)
    async with kg.store.unit_of_work(write=False) as uow:
        events = await uow.audit.for_account(account.id, ["password.reset"])
    assert events[0].event.details["methods"] == ["email_code", "totp"]


async def test_a_recovery_code_is_another_way(client: httpx.AsyncClient, kg: Keepgate,
                                              clock: FrozenClock) -> None:
    await register(client, kg, EMAIL)
    token = await sign_in(client, EMAIL)
    _, codes = await enrol_totp(client, token, clock)
    flow_id = await to_password_step(client, kg, EMAIL)
    used = await submit(client, flow_id, method="recovery_code", code=codes[0])
    assert used.json()["state"] == "awaiting_password", used.text


async def test_a_lock_stays_after_a_reset(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    account = await account_of(kg, EMAIL)
    async with kg.store.unit_of_work(write=True) as uow:
        await uow.accounts.lock(account.id, kg.clock.now())
    flow_id = await to_password_step(client, kg, EMAIL)
    done = await submit(client, flow_id, method="new_password", password=NEW_PASSWORD)
    assert done.json()["state"] == "completed" and done.json()["data"] == {"locked": True}
    assert "stays locked" in done.json()["messages"][0]["text"]
    assert (await account_of(kg, EMAIL)).locked_at is not None
    refused = await sign_in_anew(client, kg, EMAIL, NEW_PASSWORD)
    assert refused.json()["error"]["code"] == "login.invalid_credentials"


async def test_five_wrong_codes_end_the_flow(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    flow_id = await start(client)
    await submit(client, flow_id, method="identifier", identifier=EMAIL)
    code = await reset_code(kg, EMAIL)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in (4, 3, 2, 1):
        answer = await submit(client, flow_id, method="code", code=wrong)
        assert answer.json()["error"]["code"] == "code.invalid"
        assert answer.json()["flow"]["data"]["attempts_left"] == left
    last = await submit(client, flow_id, method="code", code=wrong)
    assert last.json()["error"]["code"] == "code.attempts_exhausted"
    assert last.json()["flow"]["state"] == "failed"
    late = await submit(client, flow_id, method="code", code=code)
    assert late.json()["error"]["code"] == "flow.completed"


async def test_a_code_is_bound_to_its_flow(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    first = await start(client)
    await submit(client, first, method="identifier", identifier=EMAIL)
    code = await reset_code(kg, EMAIL)
    other = await start(client)
    await submit(client, other, method="identifier", identifier="someone@example.com")
    answer = await submit(client, other, method="code", code=code)
    assert answer.json()["error"]["code"] == "code.invalid"


@contextmanager
def counting(kg: Keepgate) -> Iterator[Counter[str]]:
    """SQL statements by verb and transactions, as bench/count_db_work.py counts them."""
    engine = kg.store.engine.sync_engine
    counts: Counter[str] = Counter()

    def on_sql(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counts[statement.lstrip().split(None, 1)[0].upper()] += 1

    def on_begin(conn: Any) -> None:
        counts["transactions"] += 1

    event.listen(engine, "before_cursor_execute", on_sql)
    event.listen(engine, "begin", on_begin)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_sql)
        event.remove(engine, "begin", on_begin)


def public(answer: httpx.Response) -> Any:
    """An answer without what differs between any two flows (ids, times, masked address)."""
    body = answer.json()
    flow = body.get("flow", body)
    return {"status": answer.status_code, "state": flow["state"], "methods": flow["methods"],
            "messages": [m["code"] for m in flow["messages"]],
            "data": sorted(flow["data"]), "error": body.get("error", {}).get("code")}


async def test_unknown_identifiers_get_the_same_answers_and_work(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, EMAIL)
    seen: dict[str, list[Any]] = {}
    for identifier in (EMAIL, "nobody@example.com"):
        flow_id = await start(client)
        with counting(kg) as sent_work:
            sent = await submit(client, flow_id, method="identifier", identifier=identifier)
        with counting(kg) as code_work:
            wrong = await submit(client, flow_id, method="code", code="123456")
        seen[identifier] = [public(sent), dict(sent_work), public(wrong), dict(code_work),
                            sent.json()["messages"][0]["text"].replace(
                                sent.json()["data"]["sent_to"], "…")]
    assert seen[EMAIL] == seen["nobody@example.com"]
    assert seen[EMAIL][0]["state"] == "awaiting_code"
    stranger = await last_message(kg, "nobody@example.com")
    assert stranger.template == "recovery_attempt_unknown" and "/recover" in stranger.body


async def test_a_stranger_hears_at_most_once_an_hour(client: httpx.AsyncClient,
                                                     kg: Keepgate) -> None:
    for _ in range(2):
        flow_id = await start(client)
        await submit(client, flow_id, method="identifier", identifier="nobody@example.com")
    notices = [m for m in await recent_messages(kg) if m.destination == "nobody@example.com"]
    assert len(notices) == 1


async def test_sends_are_limited_per_address(client: httpx.AsyncClient, kg: Keepgate,
                                             clock: FrozenClock) -> None:
    await register(client, kg, EMAIL)
    answers = []
    for _ in range(6):
        clock.advance(timedelta(minutes=1))
        flow_id = await start(client)
        answers.append(await submit(client, flow_id, method="identifier", identifier=EMAIL))
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert answers[5].status_code == 429
    assert answers[5].json()["error"]["code"] == "code.send_limit_reached"


async def test_wrong_codes_on_an_identifier_bring_the_captcha(client: httpx.AsyncClient,
                                                              kg: Keepgate) -> None:
    for identifier in (EMAIL, "nobody@example.com"):
        flow_id = await start(client)
        await submit(client, flow_id, method="identifier", identifier=identifier)
        for _ in range(3):
            await submit(client, flow_id, method="code", code="123456")
        again = await start(client)
        demanded = await submit(client, again, method="identifier", identifier=identifier)
        assert demanded.status_code == 400
        assert demanded.json()["error"]["code"] == "captcha.required"
        assert "captcha" in demanded.json()["flow"]["methods"]
        assert "captcha" in demanded.json()["flow"]["data"]


async def test_a_security_key_or_an_sms_code_proves_the_factor(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, EMAIL, clock)
    key = SoftAuthenticator()
    added = await enrol_passkey(client, token, key, passkey=False, name="YubiKey")
    assert added.status_code == 200, added.text
    flow_id = await to_password_step(client, kg, EMAIL)
    flow = (await client.get(f"/api/v1/flows/{flow_id}")).json()
    assert flow["methods"] == ["webauthn", "totp", "recovery_code"]
    credential = key.get(flow["data"]["webauthn"], ORIGIN)
    proven = await submit(client, flow_id, method="webauthn", credential=credential)
    assert proven.json()["state"] == "awaiting_password", proven.text


async def test_an_sms_factor_after_an_emailed_code(client: httpx.AsyncClient, kg: Keepgate,
                                                   clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, EMAIL, clock)
    account = await account_of(kg, EMAIL)
    async with kg.store.unit_of_work(write=True) as uow:
        assert await uow.accounts.update_security(account.id, account.security_version,
                                                  phone=PHONE)
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="sms_code", action="send")
    enrolled = await submit(client, flow_id, token, method="sms_code",
                            code=await last_code(kg, PHONE), password=PASSWORD)
    assert enrolled.status_code == 200, enrolled.text

    by_email = await to_password_step(client, kg, EMAIL)
    flow = (await client.get(f"/api/v1/flows/{by_email}")).json()
    assert flow["methods"] == ["totp", "sms_code", "recovery_code"]
    clock.advance(timedelta(minutes=1))
    await submit(client, by_email, method="sms_code", action="send")
    proven = await submit(client, by_email, method="sms_code", code=await last_code(kg, PHONE))
    assert proven.json()["state"] == "awaiting_password", proven.text

    clock.advance(timedelta(minutes=1))
    by_sms = await to_password_step(client, kg, PHONE)
    flow = (await client.get(f"/api/v1/flows/{by_sms}")).json()
    assert flow["methods"] == ["totp", "recovery_code"]  # the SMS code proved the phone already
