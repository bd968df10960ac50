"""Bad input gets a 4xx with a stable error code, never a 500, and changes nothing."""

from __future__ import annotations

import httpx
import pytest

from keepgate.wiring import Keepgate
from tests.conftest import PASSWORD

pytestmark = pytest.mark.anyio

JSON = {"content-type": "application/json"}
VALID = {"method": "password", "identifier": "ok@example.com", "password": PASSWORD,
         "accept_terms": True}

CASES = [
    ("malformed json", b'{"method": "password",', JSON, 400, "request.malformed_json"),
    ("not utf-8", b'\xff\xfe{}', JSON, 400, "request.malformed_json"),
    ("json array", b"[]", JSON, 422, "request.invalid"),
    ("missing method", b'{"identifier": "a@example.com"}', JSON, 422, "request.invalid"),
    ("unknown method", b'{"method": "magic"}', JSON, 422, "request.invalid"),
    ("wrong type", b'{"method": "password", "identifier": 5, "password": "x"}', JSON, 422,
     "request.invalid"),
    ("unknown field", b'{"method": "code", "code": "123456", "admin": true}', JSON, 422,
     "request.invalid"),
    ("terms as string", b'{"method": "password", "identifier": "a@example.com", '
     b'"password": "pw", "accept_terms": "yes"}', JSON, 422, "request.invalid"),
    ("form encoded", b"method=password", {"content-type": "application/x-www-form-urlencoded"},
     415, "request.unsupported_media_type"),
    ("no content type", b"{}", {}, 415, "request.unsupported_media_type"),
    ("oversized", b'{"method": "password", "identifier": "' + b"a" * 20000 + b'"}', JSON, 413,
     "request.too_large"),
    ("invalid email", b'{"method": "password", "identifier": "not@an@email", '
     b'"password": "correct horse battery staple orbit", "accept_terms": true}', JSON, 400,
     "identifier.invalid_email"),
    ("invalid phone", b'{"method": "password", "identifier": "+1234", '
     b'"password": "correct horse battery staple orbit", "accept_terms": true}', JSON, 400,
     "identifier.invalid_phone"),
    ("neither", b'{"method": "password", "identifier": "bob", '
     b'"password": "correct horse battery staple orbit", "accept_terms": true}', JSON, 400,
     "identifier.invalid"),
    ("wrong step", b'{"method": "code", "code": "123456"}', JSON, 400,
     "flow.method_not_allowed"),
]


@pytest.mark.parametrize(("name", "body", "headers", "status", "code"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_submissions(client: httpx.AsyncClient, kg: Keepgate, name: str, body: bytes,
                               headers: dict[str, str], status: int, code: str) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    response = await client.post(f"/api/v1/flows/{flow['id']}", content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert "correct horse" not in response.text  # input is never echoed back
    after = (await client.get(f"/api/v1/flows/{flow['id']}")).json()
    assert after["state"] == "awaiting_credentials"  # nothing changed
    async with kg.store.unit_of_work(write=False) as uow:
        assert await uow.outbox.recent(5) == []
    # and the flow still works afterwards
    ok = await client.post(f"/api/v1/flows/{flow['id']}", json=VALID)
    assert ok.status_code == 200 and ok.json()["state"] == "awaiting_code"


async def test_malformed_code_does_not_burn_an_attempt(client: httpx.AsyncClient) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    await client.post(f"/api/v1/flows/{flow['id']}", json=VALID)
    for junk in ["12345", "1234567", "abcdef", "١٢٣٤٥٦", ""]:
        response = await client.post(f"/api/v1/flows/{flow['id']}",
                                     json={"method": "code", "code": junk})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "code.malformed"
    after = (await client.get(f"/api/v1/flows/{flow['id']}")).json()
    assert after["data"]["attempts_left"] == 5


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/api/v1/flows/00000000-0000-4000-8000-000000000000", 404, "flow.not_found"),
    ("GET", "/api/v1/flows/../../etc/passwd", 404, "http.not_found"),
    ("POST", "/api/v1/flows/recovery-of-everything", 404, "flow.not_found"),
    ("GET", "/api/v1/nowhere", 404, "http.not_found"),
    ("PUT", "/api/v1/me", 405, "http.method_not_allowed"),
])
async def test_unknown_routes_and_flows(client: httpx.AsyncClient, method: str, path: str,
                                        status: int, code: str) -> None:
    response = await client.request(method, path, json={"method": "code", "code": "123456"})
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


async def test_expired_flow_answers_410(client: httpx.AsyncClient, clock: object) -> None:
    from datetime import timedelta

    from keepgate.services.clock import FrozenClock

    assert isinstance(clock, FrozenClock)
    flow = (await client.post("/api/v1/flows/login")).json()
    clock.advance(timedelta(minutes=15))
    read = await client.get(f"/api/v1/flows/{flow['id']}")
    submit = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": "a@example.com", "password": "whatever"})
    assert read.status_code == submit.status_code == 410
    assert submit.json()["error"]["code"] == "flow.expired"


async def test_a_browser_flow_is_not_usable_over_the_api(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    assert page.status_code == 303
    flow_id = page.headers["location"].split("flow=")[1]
    response = await client.get(f"/api/v1/flows/{flow_id}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "flow.not_found"


async def test_openapi_describes_every_route(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path, verbs in {
        "/api/v1/flows/login": {"post"}, "/api/v1/flows/{flow_id}": {"get", "post"},
        "/api/v1/me": {"get"}, "/api/v1/sessions": {"get", "delete"},
        "/api/v1/sessions/{session_id}": {"delete"}, "/api/v1/logout": {"post"},
        "/healthz": {"get"},
    }.items():
        assert verbs <= set(paths[path]), path
    body = paths["/api/v1/flows/{flow_id}"]["post"]["requestBody"]["content"]
    assert "oneOf" in body["application/json"]["schema"]
    assert {"PasswordIn", "CodeIn", "FlowOut", "ErrorOut"} <= set(spec["components"]["schemas"])


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in response.headers  # plain HTTP in tests
