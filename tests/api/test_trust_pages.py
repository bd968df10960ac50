"""The pages a crypto customer trusts, over ASGI: the theme switch, destructive actions asked
first on a page of their own, the security page's sections, error codes on a details line,
times in the customer's zone, friendly device names, formatted masked numbers, the country
picker on a contact change, and no passkey offer where passkeys cannot work."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import httpx
import pytest

from keepgate.config import Settings
from keepgate.security import totp
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import enrol_totp, settings_flow, step_up_with_totp, submit
from tests.api.page_helpers import csrf, follow
from tests.api.test_security_pages import signed_up_and_in
from tests.conftest import PASSWORD, last_code, register, serve, sign_in

pytestmark = pytest.mark.anyio


async def test_the_theme_switch_sets_a_cookie_and_returns_to_the_page(
        client: httpx.AsyncClient) -> None:
    page = await follow(client, await client.get("/login"))
    assert "<html lang=\"en\">" in page.text  # no choice yet: the system's preference
    assert 'value="system" class="link" aria-pressed="true"' in page.text
    back = re.search(r'name="back" value="([^"]+)"', page.text)
    assert back is not None and back.group(1).startswith("/login?flow=")
    chosen = await client.post("/theme", data={"csrf_token": csrf(page.text), "theme": "dark",
                                               "back": back.group(1)})
    assert chosen.status_code == 303 and chosen.headers["location"] == back.group(1)
    assert "keepgate_theme=dark" in chosen.headers["set-cookie"]
    again = await client.get(back.group(1))
    assert '<html lang="en" data-theme="dark">' in again.text
    assert 'value="dark" class="link" aria-pressed="true"' in again.text
    system = await client.post("/theme", data={"csrf_token": csrf(page.text), "theme": "system",
                                               "back": "/login"})
    assert 'keepgate_theme=""' in system.headers["set-cookie"]  # deleted
    assert "data-theme" not in (await follow(client, await client.get("/login"))).text


@pytest.mark.parametrize("back", ["//evil.example/", "https://evil.example/", "/\\evil.example"])
async def test_the_theme_switch_never_leaves_the_site(client: httpx.AsyncClient,
                                                      back: str) -> None:
    page = await follow(client, await client.get("/login"))
    chosen = await client.post("/theme", data={"csrf_token": csrf(page.text), "theme": "light",
                                               "back": back})
    assert chosen.headers["location"] == "/"


async def test_the_theme_switch_checks_csrf(client: httpx.AsyncClient) -> None:
    refused = await client.post("/theme", data={"theme": "dark", "back": "/login"})
    assert refused.status_code == 403 and "keepgate_theme" not in refused.headers.get(
        "set-cookie", "")


async def test_destructive_actions_are_asked_first_and_styled_as_such(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    sessions = await client.get("/account/sessions")
    # The list's buttons only open the question (GET): nothing is ended yet.
    ask = re.search(r'<form method="get" action="(/account/sessions/[0-9a-f-]+/revoke)">\s*'
                    r'<button type="submit" class="danger"', sessions.text)
    assert ask is not None
    question = await client.get(ask.group(1))
    assert question.status_code == 200 and "This is the device you are using now" in question.text
    assert f'<form method="post" action="{ask.group(1)}"' in question.text
    assert '<button type="submit" class="danger">Sign out this device</button>' in question.text
    assert '<a href="/account/sessions">Cancel</a>' in question.text
    assert (await client.get("/account")).status_code == 200  # still signed in after asking
    done = await client.post(ask.group(1), data={"csrf_token": csrf(question.text)})
    assert done.headers["location"] == "/login?notice=signed-out"


@pytest.mark.parametrize(("path", "heading", "button"), [
    ("/account/sessions/revoke-others", "Sign out all other sessions?",
     "Sign out all other sessions"),
    ("/account/sign-out-everywhere", "Sign out everywhere?",
     "Sign out everywhere, this device included"),
    ("/account/security/not-me", "Wasn't you?", "This wasn't me: sign out every other device"),
])
async def test_every_session_ending_action_has_its_question(
        client: httpx.AsyncClient, kg: Keepgate, path: str, heading: str, button: str) -> None:
    await signed_up_and_in(client, kg)
    question = await client.get(path)
    assert question.status_code == 200
    assert f'<h1 id="confirm-title">{heading}</h1>' in question.text
    assert f'<form method="post" action="{path}"' in question.text
    assert f'<button type="submit" class="danger">{button}</button>' in question.text


async def test_removing_a_factor_and_forgetting_a_device_are_asked_first(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    shown = await follow(client, await client.get("/account/security/setup?method=totp"))
    secret = re.search(r'secret=([A-Z2-7]{32})', shown.text)
    assert secret is not None
    await client.post(str(shown.url), data={
        "csrf_token": csrf(shown.text), "method": "totp", "password": PASSWORD,
        "code": totp.code_at(secret.group(1), totp.step_of(clock.now()))})
    overview = await client.get("/account/security")
    remove = re.search(r'<form method="get" action="(/account/security/factors/[\w-]+/remove)"'
                       r' class="inline">\s*<button type="submit" class="danger"', overview.text)
    assert remove is not None
    question = await client.get(remove.group(1))
    assert '<h1 id="confirm-title">Remove Authenticator app?</h1>' in question.text
    gone = await client.get("/account/security/factors/no-such-factor/remove")
    assert gone.headers["location"] == "/account/security"
    devices = await client.get("/account/security/devices")
    forget = re.search(r'<form method="get" action="(/account/security/devices/[0-9a-f-]+/forget)">'
                       r'\s*<button type="submit" class="danger"', devices.text)
    assert forget is not None
    asked = await client.get(forget.group(1))
    assert "<h1 id=\"confirm-title\">Forget Chrome on Linux?</h1>" in asked.text
    assert '<button type="submit" class="danger">Forget this device</button>' in asked.text


async def test_the_security_page_has_sections_and_one_primary_add_action(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    page = await client.get("/account/security")
    nav = re.search(r'<nav class="card section-nav" aria-label="Security sections">(.*?)</nav>',
                    page.text, re.S)
    assert nav is not None
    for anchor in ("factors", "anti-phishing", "password", "contact", "notifications",
                   "activity"):
        assert f'href="#{anchor}"' in nav.group(1)
        assert f'<section class="card" id="{anchor}"' in page.text
    factors = page.text[page.text.index('id="factors"'):page.text.index('id="anti-phishing"')]
    assert len(re.findall(r'class="button"', factors)) == 1  # the recommended first factor
    assert '<a class="button" href="/account/security/setup?method=totp">' in factors


async def test_an_error_code_is_a_small_details_line_under_the_message(
        client: httpx.AsyncClient) -> None:
    page = await follow(client, await client.get("/login"))
    refused = await client.post(str(page.url), data={
        "csrf_token": csrf(page.text), "method": "password", "identifier": "nobody@example.org",
        "password": "not the password at all"})
    summary = re.search(r'<div class="alert alert-error" role="alert" id="form-error"[^>]*>'
                        r'\s*<p><strong>([^<]+)</strong></p>\s*<p class="details"><small>'
                        r'Error code: <code>login.invalid_credentials</code></small></p>',
                        refused.text)
    assert summary is not None and summary.group(1)


async def test_times_are_in_the_customers_zone_and_named(client: httpx.AsyncClient,
                                                         kg: Keepgate, clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    utc = await client.get("/account/sessions")
    started = clock.now()
    assert f"signed in {started:%Y-%m-%d %H:%M}" in utc.text and "(UTC)" in utc.text
    client.cookies.set("keepgate_tz", "Asia/Tokyo")  # what timezone.js stores
    tokyo = await client.get("/account/sessions")
    local = started + timedelta(hours=9)
    assert f"signed in {local:%Y-%m-%d %H:%M}" in tokyo.text and "(Asia/Tokyo)" in tokyo.text
    history = await client.get("/account/security/history")
    assert "When (Asia/Tokyo)" in history.text
    for hostile in ("../../etc/passwd", "Not/A_Zone", "<b>x</b>"):
        client.cookies.set("keepgate_tz", hostile)
        fallback = await client.get("/account/sessions")
        assert fallback.status_code == 200 and "(UTC)" in fallback.text


async def test_device_names_are_friendly(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    sessions = await client.get("/account/sessions")
    assert "<strong>Chrome on Linux</strong>" in sessions.text
    assert "Chrome 120" not in sessions.text


async def test_a_masked_number_is_shown_formatted(client: httpx.AsyncClient) -> None:
    page = await follow(client, await client.get("/signup"))
    await client.post(str(page.url), data={
        "csrf_token": csrf(page.text), "method": "password", "identifier": "07911 123456",
        "country": "GB", "password": PASSWORD, "accept_terms": "yes"})
    code_step = await client.get(str(page.url))
    assert "+44 •••• ••••56" in code_step.text
    assert "+447" not in code_step.text


async def test_the_contact_change_has_the_country_picker(client: httpx.AsyncClient,
                                                         kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    page = await follow(client, await client.get("/account/security/setup?method=contact"))
    form = page.text[page.text.index('name="kind"'):]
    assert '<select id="country" name="country" autocomplete="country">' in form
    assert 'aria-describedby="value-hint"' in form
    sms = await follow(client, await client.get("/account/security/setup?method=sms_code"))
    assert 'id="sms-number"' in sms.text and "add one</a> first" in sms.text


async def test_a_national_number_with_its_country_is_a_new_contact(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await register(client, kg, "picker@example.com")
    token = await sign_in(client, "picker@example.com")
    secret, _ = await enrol_totp(client, token, clock)
    clock.advance(timedelta(seconds=30))
    token = await step_up_with_totp(client, token, secret, clock)
    flow_id = await settings_flow(client, token)
    sent = await submit(client, flow_id, token, method="contact", kind="phone",
                        value="07911 123456", country="GB")
    assert sent.status_code == 200, sent.text
    assert await last_code(kg, "+447911123456")


async def test_no_passkey_offer_where_passkeys_cannot_work(settings: Settings,
                                                           clock: FrozenClock) -> None:
    at_ip = dataclasses.replace(settings, public_url="http://127.0.0.1:8000")
    assert not at_ip.passkeys_available
    async with serve(at_ip, clock) as (http, kg):
        await signed_up_and_in(http, kg)
        overview = await http.get("/account/security")
        assert "Add a passkey" not in overview.text and "method=webauthn" not in overview.text
        sms = await follow(http, await http.get("/account/security/setup?method=sms_code"))
        assert "method=webauthn" not in sms.text
        webauthn = await follow(http, await http.get("/account/security/setup?method=webauthn"))
        assert 'id="passkeys-unavailable"' in webauthn.text
        assert "Create the passkey" not in webauthn.text and 'name="passkey"' not in webauthn.text
