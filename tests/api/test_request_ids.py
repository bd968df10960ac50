"""A request id on every request: the X-Request-Id header, a reference in every error body,
every log line of the request, and the audit record; audit events as JSON log lines
(issue 8, #20)."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from keepgate.wiring import Keepgate
from tests.conftest import register

pytestmark = pytest.mark.anyio

GENERATED = re.compile(r"^[0-9a-f]{32}$")


async def test_every_answer_carries_a_generated_request_id(client: httpx.AsyncClient) -> None:
    ids = []
    for path in ("/healthz", "/api/v1/flows/nope", "/login", "/static/app.css"):
        response = await client.get(path)
        assert GENERATED.match(response.headers["X-Request-Id"]), path
        ids.append(response.headers["X-Request-Id"])
    assert len(set(ids)) == len(ids)


async def test_a_well_formed_client_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": "app-7.Trace_42:x"})
    assert response.headers["X-Request-Id"] == "app-7.Trace_42:x"


@pytest.mark.parametrize("sent", ["", "a" * 65, "has space", "new\u00e9", "<script>",
                                  "a,b", "x" * 200])
async def test_a_malformed_or_long_client_id_is_replaced(client: httpx.AsyncClient,
                                                         sent: str) -> None:
    response = await client.get("/healthz", headers={"X-Request-Id": sent.encode()})
    assert GENERATED.match(response.headers["X-Request-Id"])


async def test_every_error_body_has_the_reference(client: httpx.AsyncClient) -> None:
    answers = [
        await client.get("/api/v1/flows/nope"),  # a domain error
        await client.post("/api/v1/flows/registration/x", json=[]),  # routing
        await client.get("/api/v1/me"),  # 401
        await client.get("/api/v1/flows/%00"),  # refused by middleware
        await client.post("/api/v1/flows/login", content=b"x" * 100_000,
                          headers={"Content-Type": "application/json"}),  # body too large
        await client.get("/api/v1/security/login-history?limit=5000"),  # validation
    ]
    for answer in answers:
        assert answer.status_code >= 400
        assert answer.json()["error"]["reference"] == answer.headers["X-Request-Id"], answer.url


async def test_an_error_page_shows_the_reference(client: httpx.AsyncClient) -> None:
    page = await client.get("/no-such-page")
    assert page.status_code == 404
    assert f"Reference: <code>{page.headers['X-Request-Id']}</code>" in page.text


async def test_audit_records_and_log_lines_carry_the_request_id(
        client: httpx.AsyncClient, kg: Keepgate, caplog: pytest.LogCaptureFixture) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": "rid@example.com",
        "password": "correct horse battery staple orbit", "accept_terms": True})
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="keepgate.audit"):
        from tests.conftest import last_code

        done = await client.post(f"/api/v1/flows/{flow['id']}", json={
            "method": "code", "code": await last_code(kg, "rid@example.com")},
            headers={"X-Request-Id": "signup-1234"})
    assert done.status_code == 200, done.text
    async with kg.store.unit_of_work(write=False) as uow:
        records = list(await uow.audit.read())
    signup = next(r for r in records if r.event.kind.value == "signup")
    assert signup.event.details["request_id"] == "signup-1234"
    lines = [r for r in caplog.records if r.name == "keepgate.audit"]
    assert lines and all(getattr(r, "request_id", None) == "signup-1234" for r in lines)
    logged = json.loads(lines[0].getMessage())
    assert logged["kind"] == "signup" and logged["outcome"] == "success"
    assert logged["request_id"] == "signup-1234" and logged["seq"] == signup.seq
    assert logged["account_id"] == signup.event.account_id
    assert logged["actor"]["kind"] == signup.event.acted_by.kind.value
    assert "rid@example.com" not in lines[0].getMessage()  # the identifier is masked


async def test_log_lines_outside_a_request_say_so(kg: Keepgate, client: httpx.AsyncClient,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        await register(client, kg, "outside@example.com")
        logging.getLogger("keepgate.test").info("after the requests")
    inside = [r for r in caplog.records if r.name == "keepgate.audit"]
    outside = [r for r in caplog.records if r.name == "keepgate.test"]
    assert inside and all(GENERATED.match(r.request_id) for r in inside)  # type: ignore[attr-defined]
    assert [r.request_id for r in outside] == ["-"]  # type: ignore[attr-defined]
