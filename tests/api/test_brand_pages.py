"""Operator branding over ASGI: with a brand configured, no page a customer sees says
"Keepgate"; the name, logo, favicon, colour, support address and terms and privacy links are
the operator's, and the CSP allows the logo's origin and nothing more."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest

from keepgate.config import Brand, Settings
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.page_helpers import follow
from tests.api.test_security_pages import signed_up_and_in
from tests.conftest import PASSWORD, base_settings

pytestmark = pytest.mark.anyio
BRAND = Brand(name="Acme Exchange", logo_url="https://cdn.acme.example/logo.svg",
              favicon_url="/static/favicon.ico", colour="#ffcc00",
              support_email="help@acme.example", terms_url="https://acme.example/terms",
              privacy_url="https://acme.example/privacy")
SIGNED_OUT = ("/login", "/signup", "/recover", "/terms", "/not-me?token=x",
              "/undo-contact?token=x", "/dev/messages", "/no-such-page")
SIGNED_IN = ("/account", "/account/verify", "/account/security",
             "/account/security/setup?method=totp", "/account/security/setup?method=webauthn",
             "/account/security/setup?method=sms_code", "/account/security/setup?method=email_code",
             "/account/security/setup?method=contact", "/account/security/history",
             "/account/security/devices", "/account/sessions",
             "/account/sessions/revoke-others", "/account/sign-out-everywhere",
             "/account/security/not-me")


@pytest.fixture
def settings(database_url: str) -> Settings:
    return replace(base_settings(database_url), brand=BRAND)


def assert_branded(page: httpx.Response) -> None:
    assert page.status_code in (200, 400, 404), (page.url, page.status_code)
    assert "Keepgate" not in page.text, page.url
    assert "keepgate-recovery" not in page.text
    assert "<title>" in page.text and "· Acme Exchange</title>" in page.text
    assert '<img class="logo" src="https://cdn.acme.example/logo.svg" alt=""' in page.text
    assert '<link rel="icon" href="/static/favicon.ico">' in page.text
    assert '<a href="mailto:help@acme.example">help@acme.example</a>' in page.text
    assert '<a href="https://acme.example/terms">Terms of service</a>' in page.text
    assert '<a href="https://acme.example/privacy">Privacy policy</a>' in page.text
    assert "Acme Exchange staff will never ask" in page.text


async def test_no_page_shows_keepgate_under_another_brand(client: httpx.AsyncClient,
                                                          kg: Keepgate) -> None:
    for path in SIGNED_OUT:
        assert_branded(await follow(client, await client.get(path)))
    await signed_up_and_in(client, kg)
    for path in SIGNED_IN:
        assert_branded(await follow(client, await client.get(path)))
    sessions = await client.get("/account/sessions")
    session = re.search(r'action="(/account/sessions/[0-9a-f-]+/revoke)"', sessions.text)
    assert session is not None
    assert_branded(await client.get(session.group(1)))


async def test_authenticator_apps_show_the_brand(client: httpx.AsyncClient, kg: Keepgate,
                                                  clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    shown = await follow(client, await client.get("/account/security/setup?method=totp"))
    uri = re.search(r'href="(otpauth://totp/[^"]+)"', shown.text)
    assert uri is not None and "issuer=Acme%20Exchange" in uri.group(1)
    assert PASSWORD not in shown.text


async def test_the_brand_colour_is_a_stylesheet_and_the_csp_allows_only_the_logo(
        client: httpx.AsyncClient) -> None:
    css = await client.get("/brand.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "--accent:#ffcc00;" in css.text
    assert "--on-accent:#000000;" in css.text  # black reads on yellow; white would not
    page = await follow(client, await client.get("/login"))
    assert '<link rel="stylesheet" href="/brand.css">' in page.text
    assert "style=" not in page.text  # no inline style: the CSP stays strict
    policy = page.headers["content-security-policy"]
    assert "img-src 'self' data: https://cdn.acme.example;" in policy
    assert "style-src 'self';" in policy and "script-src 'self';" in policy
