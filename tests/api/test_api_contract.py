"""One answer for the same bad input on every JSON route, and an OpenAPI document that says
what the API really does: flows started apart from submitted, optional bearer auth, headers,
enums, the server's own rules."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from keepgate.config import Settings
from keepgate.domain import errors as e
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import build
from tests.conftest import register, sign_in

pytestmark = pytest.mark.anyio
ID = "contract@example.com"
JSON_ROUTES = [("PUT", "/api/v1/security/anti-phishing-code"),
               ("POST", "/api/v1/security/password"),
               ("PUT", "/api/v1/security/notifications"),
               ("PATCH", "/api/v1/security/factors/some-id"),
               ("POST", "/api/v1/flows/{flow}")]


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, kg: Any) -> dict[str, str]:
    await register(client, kg, ID)
    flow = (await client.post("/api/v1/flows/login")).json()
    return {"Authorization": f"Bearer {await sign_in(client, ID)}", "flow": flow["id"]}


def route(path: str, signed_in: dict[str, str]) -> str:
    return path.replace("{flow}", signed_in["flow"])


def bearer(signed_in: dict[str, str]) -> dict[str, str]:
    return {"Authorization": signed_in["Authorization"]}


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_a_wrong_content_type_is_415_on_every_json_route(
        client: httpx.AsyncClient, signed_in: dict[str, str], method: str, path: str) -> None:
    answer = await client.request(method, route(path, signed_in), content=b"{}",
                                  headers={**bearer(signed_in), "content-type": "text/plain"})
    assert answer.status_code == 415
    assert answer.json()["error"]["code"] == "request.unsupported_media_type"


@pytest.mark.parametrize("bad", [b"{bad", b"\x7f\xff\xcd"])
@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
async def test_bad_json_is_malformed_json_on_every_json_route(
        client: httpx.AsyncClient, signed_in: dict[str, str], method: str, path: str,
        bad: bytes) -> None:
    answer = await client.request(method, route(path, signed_in), content=bad,
                                  headers={**bearer(signed_in),
                                           "content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "request.malformed_json"


async def test_an_unknown_flow_kind_is_404_whatever_the_body(
        client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/flows/LOGIN", "/api/v1/flows/recover-everything"):
        answer = await client.post(path)
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["code"] == "flow.not_found"


@pytest.mark.parametrize("body", [b"null", b"{}", b"[]", b'{"method":"password"}'])
async def test_starting_a_flow_takes_no_body(client: httpx.AsyncClient, body: bytes) -> None:
    answer = await client.post("/api/v1/flows/login", content=body,
                               headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "request.invalid"
    assert "no body" in str(answer.json()["error"]["details"])


@pytest.mark.parametrize("version", [False, True, 1.0, "1"])
async def test_expected_version_is_a_strict_integer(
        client: httpx.AsyncClient, signed_in: dict[str, str], version: object) -> None:
    answer = await client.put("/api/v1/security/notifications", headers=bearer(signed_in),
                              json={"muted": [], "expected_version": version})
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "request.invalid"


async def test_405_names_every_method_of_the_route(client: httpx.AsyncClient) -> None:
    answer = await client.delete("/api/v1/security/notifications")
    assert answer.status_code == 405
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "PUT"}
    answer = await client.get("/api/v1/logout")
    assert answer.headers["allow"] == "POST"


@pytest.fixture
async def production_app_client(settings: Settings,
                                clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    secure = dataclasses.replace(settings, env="production", public_url="https://kg.test",
                                 smtp_url="smtp://127.0.0.1:2525")
    kg = build(secure, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(
            secure, keepgate=kg)), base_url="https://kg.test") as http:
        yield http
    await kg.close()


async def test_interactive_docs_in_development_only(
        client: httpx.AsyncClient, production_app_client: httpx.AsyncClient) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert (await production_app_client.get("/docs")).status_code == 404


# --- the document ------------------------------------------------------------------------------


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await client.get("/openapi.json")).json())


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def test_every_error_class_has_its_code_in_the_enum() -> None:
    from keepgate.web.errors import ERROR_CODES

    assert e.CaptchaRequired.code in ERROR_CODES and e.MalformedJson.code in ERROR_CODES
    assert "internal" in ERROR_CODES and "http.not_found" in ERROR_CODES


async def test_starting_and_submitting_are_separate_operations(
        openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    for kind in ("registration", "login", "settings", "step_up"):
        start = paths[f"/api/v1/flows/{kind}"]["post"]
        assert "requestBody" not in start and "201" in start["responses"]
    submit = paths["/api/v1/flows/{flow_id}"]["post"]
    assert submit["requestBody"]["required"] is True
    assert "415" in submit["responses"] and "201" not in submit["responses"]
    # bearer auth: optional where it is, required where it is
    assert {} in paths["/api/v1/flows/login"]["post"]["security"]
    assert {} not in paths["/api/v1/flows/settings"]["post"]["security"]
    assert {} not in paths["/api/v1/me"]["get"]["security"]


async def test_headers_are_declared(openapi: dict[str, Any]) -> None:
    submit = openapi["paths"]["/api/v1/flows/{flow_id}"]["post"]
    assert "X-Keepgate-Device" in {p["name"] for p in submit["parameters"]
                                   if p["in"] == "header"}
    assert "Retry-After" in submit["responses"]["429"]["headers"]


async def test_enums_and_server_rules_are_in_the_schema(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    flow = schemas["FlowOut"]["properties"]
    assert {"awaiting_credentials", "completed"} <= set(flow["state"]["enum"])
    assert {"password", "captcha", "webauthn"} <= set(flow["methods"]["items"]["enum"])
    code = schemas["ErrorDetail"]["properties"]["code"]
    assert {"captcha.required", "flow.not_found", "http.method_not_allowed"} <= set(code["enum"])
    assert schemas["AntiPhishingIn"]["properties"]["code"]["pattern"] == "^[A-Za-z0-9]{4,20}$"
    muted = schemas["NoticesIn"]["properties"]["muted"]["items"]
    assert "enum" in muted
    assert "pattern" in schemas["RenameIn"]["properties"]["label"]


async def test_routes_list_only_the_errors_they_can_return(openapi: dict[str, Any]) -> None:
    me = openapi["paths"]["/api/v1/me"]["get"]["responses"]
    assert "401" in me and "409" not in me and "415" not in me and "410" not in me
