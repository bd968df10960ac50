"""The pages over ASGI: cookies, CSRF, flow binding and the journey without a browser."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from keepgate.config import Settings
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate, build
from tests.conftest import PASSWORD, last_code, register

pytestmark = pytest.mark.anyio
CSRF_RE = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


async def open_flow(client: httpx.AsyncClient, path: str) -> tuple[str, str]:
    start = await client.get(path)
    assert start.status_code == 303
    page = await client.get(start.headers["location"])
    assert page.status_code == 200
    return start.headers["location"], csrf_of(page.text)


async def test_page_journey_sets_safe_cookies(client: httpx.AsyncClient, kg: Keepgate) -> None:
    url, csrf = await open_flow(client, "/signup")
    response = await client.post(url, data={"csrf_token": csrf, "method": "password",
                                            "identifier": "page@example.com",
                                            "password": PASSWORD, "accept_terms": "yes"})
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "We sent a 6-digit code" in page.text and 'autocomplete="one-time-code"' in page.text
    code = await last_code(kg, "page@example.com")
    done = await client.post(url, data={"csrf_token": csrf, "method": "code", "code": code})
    assert done.headers["location"] == "/account"  # signed in by the sign-up itself
    assert any(c.startswith("keepgate_session=") for c in done.headers.get_list("set-cookie"))
    welcome = await client.get("/account")
    assert welcome.status_code == 200 and "page@example.com" in welcome.text
    assert 'href="/account/verify"' in welcome.text  # the restricted banner's way forward
    verify = await client.get("/account/verify")
    assert verify.status_code == 200 and "Verify your identity" in verify.text
    await client.post("/logout", data={"csrf_token": csrf_of(welcome.text)})

    url, csrf = await open_flow(client, "/login")
    signed_in = await client.post(url, data={"csrf_token": csrf, "method": "password",
                                             "identifier": "page@example.com",
                                             "password": PASSWORD})
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/account"
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith("keepgate_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development over plain HTTP

    account = await client.get("/account")
    assert "Restricted" in account.text and "View markets" in account.text
    sessions = await client.get("/account/sessions")
    assert "This device" in sessions.text and "Chrome on Linux" in sessions.text

    out = await client.post("/logout", data={"csrf_token": csrf_of(sessions.text)})
    assert out.headers["location"] == "/login?notice=signed-out"
    assert (await client.get("/account")).headers["location"] == "/login"


async def test_forms_without_a_valid_csrf_token_are_refused(client: httpx.AsyncClient) -> None:
    url, csrf = await open_flow(client, "/login")
    for token in ("", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        response = await client.post(url, data={"csrf_token": token, "method": "password",
                                                "identifier": "a@example.com",
                                                "password": "x"})
        assert response.status_code == 403
        assert "csrf.invalid" in response.text


async def test_a_browser_flow_belongs_to_its_browser(settings: Settings,
                                                     client: httpx.AsyncClient,
                                                     kg: Keepgate) -> None:
    url, _ = await open_flow(client, "/signup")
    app = create_app(settings, keepgate=kg)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver") as other:
        stolen = await other.get(url)  # another browser (other CSRF cookie) opens the link
    assert stolen.status_code == 404
    assert "This flow does not exist" in stolen.text


@pytest.fixture
async def production_client(settings: Settings, clock: FrozenClock
                            ) -> AsyncIterator[httpx.AsyncClient]:
    secure = dataclasses.replace(settings, env="production", public_url="https://keepgate.test",
                                 smtp_url="smtp://127.0.0.1:2525")
    kg = build(secure, clock=clock)
    app = create_app(secure, keepgate=kg)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="https://keepgate.test") as http:
        yield http
    await kg.close()


async def test_production_uses_host_prefixed_secure_cookies_and_hsts(
        production_client: httpx.AsyncClient) -> None:
    start = await production_client.get("/login")
    cookie = start.headers["set-cookie"]
    assert cookie.startswith("__Host-keepgate_csrf=") and "Secure" in cookie
    assert "strict-transport-security" in start.headers
    assert (await production_client.get("/dev/messages")).status_code == 404


async def test_a_number_in_national_format_signs_up_with_the_country_picker(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    start = await client.get("/signup", headers={"Accept-Language": "en-GB,en;q=0.8"})
    page = await client.get(start.headers["location"],
                            headers={"Accept-Language": "en-GB,en;q=0.8"})
    assert '<select id="country" name="country"' in page.text
    assert '<option value="GB" selected>United Kingdom (+44)</option>' in page.text
    example = re.search(r'id="identifier-hint">[^<]*e\.g\. ([^)<]+)\)', page.text)
    assert example is not None and example.group(1) == "+44 7400 123456"
    sent = await client.post(start.headers["location"], data={
        "csrf_token": csrf_of(page.text), "method": "password", "identifier": "07400 123456",
        "country": "GB", "password": PASSWORD, "accept_terms": "yes"})
    assert sent.status_code == 303
    code_page = await client.get(sent.headers["location"])
    assert "+447400123456" not in code_page.text
    code = await last_code(kg, "+447400123456")
    done = await client.post(start.headers["location"], data={
        "csrf_token": csrf_of(page.text), "method": "code", "code": code})
    assert done.headers["location"] == "/account"
    account = await client.get("/account")
    assert "+44 7400 123456" in account.text and "+447400123456" not in account.text


async def test_the_api_takes_the_country_beside_the_identifier(client: httpx.AsyncClient,
                                                               kg: Keepgate) -> None:
    flow = (await client.post("/api/v1/flows/registration")).json()
    sent = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": "07400 123456", "country": "GB",
        "password": PASSWORD, "accept_terms": True})
    assert sent.status_code == 200, sent.text
    assert await last_code(kg, "+447400123456")


async def test_the_development_outbox_has_a_json_form(client: httpx.AsyncClient,
                                                      kg: Keepgate) -> None:
    await register(client, kg, "outbox@example.com")
    answer = await client.get("/dev/messages.json")
    assert answer.status_code == 200
    newest = answer.json()["messages"][0]
    assert newest["destination"] == "outbox@example.com" and newest["channel"] == "email"
    assert {"id", "template", "subject", "body", "created_at", "status"} <= set(newest)


async def test_the_json_outbox_exists_only_where_the_page_does(
        production_client: httpx.AsyncClient) -> None:
    assert (await production_client.get("/dev/messages.json")).status_code == 404
