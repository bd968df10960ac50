"""The /recover pages: the same recovery flow as the API, with cookies, CSRF and redirects."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import current_code, enrol_totp
from tests.api.test_pages import csrf_of, open_flow
from tests.conftest import last_code, register, sign_in

pytestmark = pytest.mark.anyio
EMAIL = "page@example.com"
NEW_PASSWORD = "purple elephants juggle quietly at dawn"


async def test_the_sign_in_page_links_to_recovery(client: httpx.AsyncClient) -> None:
    url, _ = await open_flow(client, "/login")
    page = await client.get(url)
    assert '<a href="/recover">Forgot password?</a>' in page.text


async def test_a_reset_through_the_pages(client: httpx.AsyncClient, kg: Keepgate,
                                         clock: FrozenClock) -> None:
    await register(client, kg, EMAIL)
    secret, _ = await enrol_totp(client, await sign_in(client, EMAIL), clock)
    clock.advance(timedelta(seconds=30))
    url, csrf = await open_flow(client, "/recover")
    assert url.startswith("/recover?flow=")
    sent = await client.post(url, data={"csrf_token": csrf, "method": "identifier",
                                        "identifier": EMAIL})
    assert sent.status_code == 303
    page = await client.get(sent.headers["location"])
    assert "belongs to an account, we sent a 6-digit code" in page.text
    assert 'autocomplete="one-time-code"' in page.text
    wrong = await client.post(url, data={"csrf_token": csrf, "method": "code",
                                         "code": "12345"})
    assert wrong.status_code == 400 and 'aria-invalid="true"' in wrong.text
    code = await last_code(kg, EMAIL)
    proven = await client.post(url, data={"csrf_token": csrf, "method": "code", "code": code})
    factor_page = await client.get(proven.headers["location"])
    assert "Code from your authenticator app" in factor_page.text
    assert "Try another way:" in factor_page.text and "A recovery code" in factor_page.text
    assert "by email" not in factor_page.text
    totp = await client.post(f"{url}&method=totp", data={
        "csrf_token": csrf, "method": "totp", "code": current_code(secret, clock)})
    password_page = await client.get(totp.headers["location"])
    assert 'autocomplete="new-password"' in password_page.text
    done = await client.post(url, data={"csrf_token": csrf, "method": "new_password",
                                        "password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == url
    finished = await client.get(url)
    assert "Your password was changed" in finished.text and 'href="/login"' in finished.text


async def test_an_unknown_address_reads_the_same(client: httpx.AsyncClient) -> None:
    url, csrf = await open_flow(client, "/recover")
    sent = await client.post(url, data={"csrf_token": csrf, "method": "identifier",
                                        "identifier": "nobody@example.com"})
    page = await client.get(sent.headers["location"])
    assert "belongs to an account, we sent a 6-digit code" in page.text
    assert csrf_of(page.text) == csrf
