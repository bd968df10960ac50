"""Sign-in defences over the API: bans, parallel guesses, IP throttling, CAPTCHA, new devices."""

from __future__ import annotations

import re
from datetime import timedelta

import anyio
import httpx
import pytest

from keepgate.config import Settings
from keepgate.domain.identifiers import parse_identifier
from keepgate.security.captcha import solve_for_tests
from keepgate.services.admin import Operator
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import password_step, submit
from tests.conftest import (
    DEVICES,
    PASSWORD,
    error_apart_from_reference,
    last_message,
    register,
)

pytestmark = pytest.mark.anyio
ID = "guard@example.com"
WRONG = "definitely not the password"


async def fail_times(client: httpx.AsyncClient, n: int, identifier: str = ID,
                     device: str | None = None) -> list[httpx.Response]:
    return [await password_step(client, identifier, device=device, password=WRONG)
            for _ in range(n)]


async def test_five_failures_ban_for_an_hour_with_the_same_answer(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    answers = await fail_times(client, 3)
    assert all(a.status_code == 401 for a in answers)
    # after three failures on the identifier, a CAPTCHA is demanded before the password
    demanded = await password_step(client, ID, device=None)
    assert demanded.status_code == 400
    assert demanded.json()["error"]["code"] == "captcha.required"
    flow = demanded.json()["flow"]
    assert "captcha" in flow["methods"] and "signature" in flow["data"]["captcha"]
    for _ in range(2):
        solved = solve_for_tests((await client.get(f"/api/v1/flows/{flow['id']}")).json()
                                 ["data"]["captcha"])
        wrong = await submit(client, flow["id"], method="password", identifier=ID,
                             password=WRONG, captcha=solved)
        assert wrong.status_code == 401
    # five failures: banned. The right password now gets the very same answer.
    solved = solve_for_tests((await client.get(f"/api/v1/flows/{flow['id']}")).json()
                             ["data"]["captcha"])
    banned = await submit(client, flow["id"], method="password", identifier=ID,
                          password=PASSWORD, captcha=solved)
    assert banned.status_code == 401
    assert error_apart_from_reference(banned) == error_apart_from_reference(answers[0])
    notice = await last_message(kg, ID)
    assert notice.template == "signin_banned" and "5 failed attempts" in notice.body
    # the owner's trusted device is not locked out by the ban
    trusted = await password_step(client, ID)
    assert trusted.status_code == 200 and trusted.json()["state"] == "completed"
    # an hour later, anyone may try again (after proof of work)
    clock.advance(timedelta(hours=1, seconds=1))
    later = (await client.post("/api/v1/flows/login")).json()
    answer = await submit(client, later["id"], method="password", identifier=ID,
                          password=PASSWORD)
    if answer.status_code == 400:  # the identifier's CAPTCHA window may still be open
        solved = solve_for_tests(answer.json()["flow"]["data"]["captcha"])
        answer = await submit(client, later["id"], method="password", identifier=ID,
                              password=PASSWORD, captcha=solved)
    assert answer.status_code == 200
    assert answer.json()["state"] == "awaiting_device_code"  # new device: confirm by code


async def test_fifty_parallel_wrong_guesses_evaluate_at_most_five(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, ID)
    flows = [(await client.post("/api/v1/flows/login")).json()["id"] for _ in range(50)]
    evaluated = 0
    original = kg.hasher.verify

    async def counting(password_hash: str | None, password: str) -> bool:
        nonlocal evaluated
        if password_hash is not None:
            evaluated += 1
        return await original(password_hash, password)

    kg.hasher.verify = counting  # type: ignore[method-assign]
    statuses: list[int] = []

    async def guess(flow_id: str) -> None:
        response = await submit(client, flow_id, method="password", identifier=ID,
                                password=WRONG)
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for flow_id in flows:
            group.start_soon(guess, flow_id)
    assert evaluated <= 5  # the account's real hash was checked at most five times
    assert len(statuses) == 50 and set(statuses) <= {401, 400, 429}
    async with kg.store.unit_of_work(write=False) as uow:
        records = await uow.audit.read()
    assert sum(r.event.kind == "login.banned" for r in records) == 1


async def test_ip_throttle_refuses_before_hashing(client: httpx.AsyncClient,
                                                  kg: Keepgate) -> None:
    hashed = 0
    original = kg.hasher.verify

    async def counting(password_hash: str | None, password: str) -> bool:
        nonlocal hashed
        hashed += 1
        return await original(password_hash, password)

    kg.hasher.verify = counting  # type: ignore[method-assign]
    answers = []
    for n in range(22):  # different identifiers: the per-IP limit is across accounts
        flow = (await client.post("/api/v1/flows/login")).json()
        answers.append(await submit(client, flow["id"], method="password",
                                    identifier=f"user{n}@example.com", password=WRONG))
    assert [a.status_code for a in answers[:20]] == [401] * 20
    assert answers[20].status_code == 429
    assert answers[20].json()["error"]["code"] == "throttle.too_many_attempts"
    assert 1 <= int(answers[20].headers["Retry-After"]) <= 600
    # a throttled IP is then asked for proof of work before anything else
    assert answers[21].json()["error"]["code"] == "captcha.required"
    assert hashed == 20  # the refused ones never reached Argon2


async def test_sign_ups_per_ip_are_limited(client: httpx.AsyncClient,
                                          clock: FrozenClock) -> None:
    codes = []
    for n in range(11):
        clock.advance(timedelta(minutes=1))  # an IP's codes are also limited to 3 a minute
        flow = (await client.post("/api/v1/flows/registration")).json()
        response = await submit(client, flow["id"], method="password",
                                identifier=f"new{n}@example.com", password=PASSWORD,
                                accept_terms=True)
        codes.append(response.status_code)
    assert codes == [200] * 10 + [429]


async def test_new_device_needs_the_emailed_code_and_is_then_trusted(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, ID)
    step = await password_step(client, ID, device=None)
    flow = step.json()
    assert flow["state"] == "awaiting_device_code" and flow["methods"] == ["device_code"]
    assert flow["session"] is None
    message = await last_message(kg, ID)
    assert message.template == "device_code"
    assert "Chrome on Linux" in message.body and "203.0.113.7" in message.body
    code = re.search(r"\b(\d{6})\b", message.body)
    assert code is not None
    wrong = await submit(client, flow["id"], method="device_code", code="000000"
                         if code.group(1) != "000000" else "111111")
    assert wrong.status_code == 400
    done = await submit(client, flow["id"], method="device_code", code=code.group(1))
    assert done.json()["state"] == "completed", done.text
    token = done.json()["device_token"]
    assert token and token != DEVICES[ID]
    again = await password_step(client, ID, device=token)
    assert again.json()["state"] == "completed"  # remembered


async def test_this_was_not_me_signs_out_everywhere_and_locks(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, ID)
    mine = (await password_step(client, ID)).json()["session"]["token"]
    await password_step(client, ID, device=None)
    message = await last_message(kg, ID)
    link = re.search(r"http://localhost(/not-me\?token=\S+)", message.body)
    assert link is not None
    page = await client.get(link.group(1))
    assert page.status_code == 200 and "Sign out everywhere" in page.text
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert csrf and token
    done = await client.post("/not-me", data={"csrf_token": csrf.group(1),
                                              "token": token.group(1)})
    assert done.status_code == 200 and "locked" in done.text
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {mine}"})
            ).status_code == 401
    locked = await password_step(client, ID)  # even the trusted device, with the password
    assert locked.status_code == 401
    assert locked.json()["error"]["code"] == "login.invalid_credentials"
    forged = await client.get("/not-me?token=abc.def")
    assert forged.status_code == 400
    # the link acts once: after an operator's unlock, whoever holds the message cannot relock
    assert await kg.admin.unlock(ID, Operator("grace", "identity proven")) is not None
    again = await client.post("/not-me", data={"csrf_token": csrf.group(1),
                                               "token": token.group(1)})
    assert again.status_code == 400 and "not valid" in again.text
    unlocked = await password_step(client, ID)  # the device was forgotten: a code next
    assert unlocked.json()["state"] == "awaiting_device_code", unlocked.text


async def test_a_this_was_not_me_link_lasts_72_hours(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    await password_step(client, ID, device=None)
    link = re.search(r"http://localhost(/not-me\?token=\S+)", (await last_message(kg, ID)).body)
    assert link is not None
    clock.advance(timedelta(hours=71, minutes=59))
    assert (await client.get(link.group(1))).status_code == 200
    clock.advance(timedelta(minutes=2))
    assert (await client.get(link.group(1))).status_code == 400


async def test_a_right_password_does_not_reset_wrong_second_factor_guesses(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    """Password right, codes wrong, again and again: it still adds up to a ban."""
    from tests.api.factor_helpers import current_code, enrol_totp
    from tests.conftest import sign_in

    await register(client, kg, ID)
    token = await sign_in(client, ID)
    secret, _ = await enrol_totp(client, token, clock)
    right = current_code(secret, clock, +1)
    wrong = "000000" if right != "000000" else "111111"
    for guesses in (3, 2):
        answer = await password_step(client, ID, device=None)
        if answer.status_code == 400:  # proof of work demanded after three failures: solve it
            flow = answer.json()["flow"]
            answer = await submit(client, flow["id"], method="password", identifier=ID,
                                  password=PASSWORD,
                                  captcha=solve_for_tests(flow["data"]["captcha"]))
        flow = answer.json()
        assert flow["state"] == "awaiting_second_factor"
        for _ in range(guesses):
            answer = await submit(client, flow["id"], method="totp", code=wrong)
            assert answer.status_code == 400
    notice = await last_message(kg, ID)
    assert notice.template == "signin_banned"
    flow = (await password_step(client, ID, device=None)).json()
    assert flow.get("state") != "awaiting_second_factor"  # banned: the password is refused too
    # the owner's trusted device still gets in, and its sign-in clears nothing for strangers
    clock.advance(timedelta(seconds=30))
    mine = (await password_step(client, ID)).json()
    done = await submit(client, mine["id"], headers={"X-Keepgate-Device": DEVICES[ID]},
                        method="totp", code=current_code(secret, clock))
    assert done.json()["state"] == "completed"


async def _sign_up_attempt(client: httpx.AsyncClient, identifier: str,
                           clock: FrozenClock | None = None) -> int:
    """One sign-up; with ``clock``, a minute later than the last, so that the IP's budget of
    3 codes a minute stays out of the way of the per-address limit under test."""
    if clock is not None:
        clock.advance(timedelta(minutes=1))
    flow = (await client.post("/api/v1/flows/registration")).json()
    answer = await submit(client, flow["id"], method="password", identifier=identifier,
                          password=PASSWORD, accept_terms=True)
    return answer.status_code


async def test_the_send_limit_answers_alike_for_existing_and_new_addresses(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock, settings: Settings) -> None:
    await register(client, kg, "owner@example.com")
    clock.advance(timedelta(hours=1, seconds=1))  # the registration's own sends age out
    existing = [await _sign_up_attempt(client, "owner@example.com", clock) for _ in range(6)]
    # another network, so the per-IP sign-up limit (10 an hour) stays out of the way
    transport = httpx.ASGITransport(app=create_app(settings, keepgate=kg),
                                    client=("198.51.100.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as other:
        fresh = [await _sign_up_attempt(other, "nobody@example.com", clock) for _ in range(6)]
    assert existing == fresh == [200] * 5 + [429]
    async with kg.store.unit_of_work(write=False) as uow:
        notices = [m for m in await uow.outbox.recent(100)
                   if m.template == "registration_attempt_existing"]
    assert len(notices) == 1  # the owner hears of it once an hour, not six times


async def test_parallel_sign_ups_cannot_race_past_the_send_limit(
        kg: Keepgate, settings: Settings) -> None:
    statuses: list[int] = []
    app = create_app(settings, keepgate=kg)

    async def attempt(n: int) -> None:
        # each from its own network: under the per-IP limits, over the per-number one
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{n}", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as one:
            statuses.append(await _sign_up_attempt(one, "+447911123456"))

    async with anyio.create_task_group() as group:
        for n in range(9):
            group.start_soon(attempt, n)
    async with kg.store.unit_of_work(write=False) as uow:
        sms = [m for m in await uow.outbox.recent(100) if m.destination == "+447911123456"]
    assert len(sms) == 5 and sorted(statuses) == [200] * 5 + [429] * 4


async def test_strangers_cannot_spend_the_owners_sign_in_codes(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    from tests.api.factor_helpers import settings_flow
    from tests.conftest import last_code, sign_in

    await register(client, kg, ID)
    token = await sign_in(client, ID)
    flow_id = await settings_flow(client, token)
    await submit(client, flow_id, token, method="email_code", action="send")
    await submit(client, flow_id, token, method="email_code", code=await last_code(kg, ID),
                 password=PASSWORD)
    clock.advance(timedelta(hours=1, seconds=1))
    for _ in range(6):  # a stranger floods the sign-up form with the owner's address
        await _sign_up_attempt(client, ID, clock)
    flow = (await password_step(client, ID)).json()
    asked = await submit(client, flow["id"], headers={"X-Keepgate-Device": DEVICES[ID]},
                         method="email_code", action="send")
    assert asked.status_code == 200, asked.text  # the owner's budget is the owner's


async def test_new_device_codes_count_against_the_owners_budget(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    clock.advance(timedelta(hours=1, seconds=1))
    answers = []
    for _ in range(6):
        clock.advance(timedelta(minutes=1))  # under the account's 3 codes a minute
        answers.append(await password_step(client, ID, device=None))
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[5].json()["error"]["code"] == "code.send_limit_reached"
    async with kg.store.unit_of_work(write=False) as uow:
        account = await uow.accounts.find(parse_identifier(ID))
    assert account is not None and account.failed_logins == 0  # nothing counted as failure
