"""Registration over the API: screening, codes, limits and no account enumeration."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.conftest import PASSWORD, last_code, last_message, register

pytestmark = pytest.mark.anyio


async def start(client: httpx.AsyncClient) -> str:
    response = await client.post("/api/v1/flows/registration")
    assert response.status_code == 201
    body = response.json()
    assert body["state"] == "awaiting_credentials" and body["methods"] == ["password"]
    return str(body["id"])


async def submit(client: httpx.AsyncClient, flow_id: str, **fields: Any) -> httpx.Response:
    return await client.post(f"/api/v1/flows/{flow_id}", json=fields)


async def credentials(client: httpx.AsyncClient, identifier: str,
                      password: str = PASSWORD) -> tuple[str, httpx.Response]:
    flow_id = await start(client)
    response = await submit(client, flow_id, method="password", identifier=identifier,
                            password=password, accept_terms=True)
    return flow_id, response


def public_shape(flow: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in flow.items() if k not in ("id", "expires_at")}


async def test_existing_address_gets_the_same_answer_and_its_owner_is_told(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await register(client, kg, "owner@example.com")
    _, fresh = await credentials(client, "other@example.com")
    taken_id, taken = await credentials(client, "OWNER@example.com")
    assert fresh.status_code == taken.status_code == 200
    fresh_flow, taken_flow = public_shape(fresh.json()), public_shape(taken.json())
    fresh_flow["data"].pop("sent_to"), taken_flow["data"].pop("sent_to")
    assert fresh_flow == taken_flow
    notice = await last_message(kg, "owner@example.com")
    assert notice.template == "registration_attempt_existing"
    assert "already has an account" in notice.body
    # No code exists for that flow: every guess fails, and the flow dies after five.
    for _ in range(4):
        wrong = await submit(client, taken_id, method="code", code="123456")
        assert wrong.json()["error"]["code"] == "code.invalid"
    last = await submit(client, taken_id, method="code", code="654321")
    assert last.json()["error"]["code"] == "code.attempts_exhausted"
    assert last.json()["flow"]["state"] == "failed"


async def test_registration_by_phone_sends_an_sms_code(client: httpx.AsyncClient,
                                                       kg: Keepgate) -> None:
    completed = await register(client, kg, "+44 7911 123456")
    assert completed["state"] == "completed"
    message = await last_message(kg, "+447911123456")
    assert message.channel == "sms" and message.template == "registration_code"


@pytest.mark.parametrize(("password", "code"), [
    ("short pass", "password.too_short"),
    ("x" * 129, "password.too_long"),
    ("password1234567", "password.common"),
    ("alice-secret-words-here", "password.contains_identifier"),
    ("keepgate is my vault 1", "password.contains_identifier"),
    ("abcabcabcabcabc", "password.too_weak"),
])
async def test_weak_passwords_are_refused_with_the_reason(client: httpx.AsyncClient,
                                                          password: str, code: str) -> None:
    flow_id, response = await credentials(client, "alice@example.com", password)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert response.json()["flow"]["state"] == "awaiting_credentials"
    again = await client.get(f"/api/v1/flows/{flow_id}")
    assert again.json()["state"] == "awaiting_credentials"  # nothing changed


async def test_terms_must_be_accepted(client: httpx.AsyncClient) -> None:
    flow_id = await start(client)
    response = await submit(client, flow_id, method="password", identifier="a@example.com",
                            password=PASSWORD, accept_terms=False)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "registration.terms_not_accepted"


async def test_code_expires(client: httpx.AsyncClient, kg: Keepgate,
                            clock: FrozenClock) -> None:
    flow_id, _ = await credentials(client, "late@example.com")
    code = await last_code(kg, "late@example.com")
    clock.advance(timedelta(minutes=10))
    response = await submit(client, flow_id, method="code", code=code)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "code.expired"


async def test_resend_cooldown_new_code_and_failures_carry_over(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    flow_id, _ = await credentials(client, "re@example.com")
    first = await last_code(kg, "re@example.com")
    wrong = "000000" if first != "000000" else "111111"
    assert (await submit(client, flow_id, method="code", code=wrong)).status_code == 400
    too_soon = await submit(client, flow_id, method="code", action="resend")
    assert too_soon.status_code == 429
    assert too_soon.json()["error"]["code"] == "code.resend_too_soon"
    assert 1 <= int(too_soon.headers["Retry-After"]) <= 60
    clock.advance(timedelta(seconds=60))
    resent = await submit(client, flow_id, method="code", action="resend")
    assert resent.status_code == 200
    assert resent.json()["data"]["attempts_left"] == 4  # a resend never resets failures
    second = await last_code(kg, "re@example.com")
    if second != first:
        stale = await submit(client, flow_id, method="code", code=first)
        assert stale.json()["error"]["code"] == "code.invalid"
    done = await submit(client, flow_id, method="code", code=second)
    assert done.json()["state"] == "completed"


async def test_sends_per_destination_are_limited_across_flows(client: httpx.AsyncClient,
                                                              clock: FrozenClock) -> None:
    for _ in range(5):
        _, response = await credentials(client, "flood@example.com")
        assert response.status_code == 200
        clock.advance(timedelta(minutes=1))  # under the IP's 3 codes a minute
    _, blocked = await credentials(client, "flood@example.com")
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "code.send_limit_reached"
    assert blocked.headers["Retry-After"] == str(3600 - 5 * 60)  # the hour began 5 min ago
    clock.advance(timedelta(hours=1, seconds=1))
    _, allowed = await credentials(client, "flood@example.com")
    assert allowed.status_code == 200


async def test_parallel_wrong_codes_are_counted_exactly(client: httpx.AsyncClient,
                                                        kg: Keepgate) -> None:
    flow_id, _ = await credentials(client, "race@example.com")
    code = await last_code(kg, "race@example.com")
    wrong = "000000" if code != "000000" else "111111"
    statuses: list[tuple[int, str]] = []

    async def guess() -> None:
        response = await submit(client, flow_id, method="code", code=wrong)
        statuses.append((response.status_code, response.json()["error"]["code"]))

    async with anyio.create_task_group() as group:
        for _ in range(12):
            group.start_soon(guess)
    counted = [c for s, c in statuses if c in ("code.invalid", "code.attempts_exhausted")]
    flow = (await client.get(f"/api/v1/flows/{flow_id}")).json()
    # Every guess that was evaluated was counted; a flow never takes more than five.
    assert len(counted) <= 5
    assert all(c in ("code.invalid", "code.attempts_exhausted", "flow.conflict",
                     "flow.completed") for _, c in statuses)
    if flow["state"] == "awaiting_code":
        assert flow["data"]["attempts_left"] == 5 - len(counted)
    else:
        assert flow["state"] == "failed" and len(counted) == 5


async def test_the_same_identifier_can_register_only_once(client: httpx.AsyncClient,
                                                          kg: Keepgate) -> None:
    first_id, _ = await credentials(client, "twin@example.com")
    first_code = await last_code(kg, "twin@example.com")
    second_id, _ = await credentials(client, "twin@example.com")
    second_code = await last_code(kg, "twin@example.com")
    assert (await submit(client, first_id, method="code", code=first_code)).status_code == 200
    conflict = await submit(client, second_id, method="code", code=second_code)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "registration.identifier_taken"


@contextmanager
def counting_db_work(kg: Keepgate) -> Iterator[Counter[str]]:
    """Transactions (read and write) and statements by verb, on the store's engine."""
    counts: Counter[str] = Counter()
    engine = kg.store.engine.sync_engine

    def on_statement(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        counts[statement.lstrip().split(None, 1)[0].upper()] += 1

    def on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("keepgate_write", False)
        counts["write transactions" if write else "read transactions"] += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    try:
        yield counts
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)


async def test_sign_up_does_the_same_database_work_for_existing_and_new_addresses(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    """The answer's timing must not tell whether an address has an account: the same
    transactions and the same statements on both branches."""
    await register(client, kg, "owner@example.com")
    clock.advance(timedelta(hours=1, seconds=1))  # the registration's own sends age out
    work = []
    for identifier in ("owner@example.com", "nobody@example.com"):
        clock.advance(timedelta(minutes=1))  # each under the per-IP sends-a-minute budget
        flow_id = await start(client)
        with counting_db_work(kg) as counts:
            answer = await submit(client, flow_id, method="password", identifier=identifier,
                                  password=PASSWORD, accept_terms=True)
        assert answer.status_code == 200
        work.append(counts)
    existing, new = work
    assert existing == new
    assert existing["write transactions"] > 0 and existing["INSERT"] > 0
    # Within the hour the owner is not told again: the same transactions still, but the
    # notice's outbox row (and its account read) are not written.
    again = []
    for identifier in ("owner@example.com", "nobody@example.com"):
        clock.advance(timedelta(minutes=1))
        flow_id = await start(client)
        with counting_db_work(kg) as counts:
            answer = await submit(client, flow_id, method="password", identifier=identifier,
                         password=PASSWORD, accept_terms=True)
        assert answer.status_code == 200
        again.append({k: v for k, v in counts.items() if "transactions" in k})
    assert again[0] == again[1]
