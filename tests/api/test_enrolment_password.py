"""Adding a second factor asks for the password again, checked like a sign-in: the same hasher,
and wrong passwords count towards the same ban."""

from __future__ import annotations

import httpx
import pytest

from keepgate.domain.identifiers import parse_identifier
from keepgate.security import totp
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import settings_flow, submit
from tests.conftest import PASSWORD, register, sign_in

pytestmark = pytest.mark.anyio
ID = "reenter@example.com"


async def started_totp(client: httpx.AsyncClient, token: str) -> tuple[str, str]:
    flow_id = await settings_flow(client, token)
    started = await submit(client, flow_id, token, method="totp")
    assert started.status_code == 200, started.text
    return flow_id, str(started.json()["data"]["secret"])


async def test_adding_a_factor_needs_the_password_again(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    flow_id, secret = await started_totp(client, token)
    code = totp.code_at(secret, totp.step_of(clock.now()))
    missing = await submit(client, flow_id, token, method="totp", code=code)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "password.reentry_required"
    wrong = await submit(client, flow_id, token, method="totp", code=code,
                         password="not my password at all")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "password.current_incorrect"
    added = await submit(client, flow_id, token, method="totp", code=code, password=PASSWORD)
    assert added.status_code == 200, added.text
    assert len(added.json()["data"]["recovery_codes"]) == 10


async def test_wrong_passwords_at_enrolment_count_towards_the_ban(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, ID)
    token = await sign_in(client, ID)
    flow_id, secret = await started_totp(client, token)
    policy = kg.defences.policy
    for _ in range(policy.max_failures):
        code = totp.code_at(secret, totp.step_of(clock.now()))
        await submit(client, flow_id, token, method="totp", code=code, password="wrong guess")
    async with kg.store.unit_of_work(write=False) as uow:
        account = await uow.accounts.find(parse_identifier(ID))
    assert account is not None and account.banned_until is not None
    # banned: even the right password no longer adds a factor
    code = totp.code_at(secret, totp.step_of(clock.now()))
    refused = await submit(client, flow_id, token, method="totp", code=code, password=PASSWORD)
    assert refused.json()["error"]["code"] == "password.current_incorrect"
