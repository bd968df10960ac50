"""The security centre's pages over ASGI: enrol, step up, change, read history, forget."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from keepgate.security import totp
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.page_helpers import csrf, follow
from tests.conftest import PASSWORD, last_code

pytestmark = pytest.mark.anyio
ID = "pages@example.com"
async def signed_up_and_in(client: httpx.AsyncClient, kg: Keepgate) -> None:
    page = await follow(client, await client.get("/signup"))
    url = str(page.url)
    await client.post(url, data={"csrf_token": csrf(page.text), "method": "password",
                                 "identifier": ID, "password": PASSWORD, "accept_terms": "yes"})
    joined = await client.post(url, data={"csrf_token": csrf(page.text), "method": "code",
                                          "code": await last_code(kg, ID)})
    assert joined.headers["location"] == "/account"  # sign-up signs in...
    await client.post("/logout", data={"csrf_token": csrf(page.text)})  # ...and out again,
    page = await follow(client, await client.get("/login"))  # to sign in as a returning one
    done = await client.post(str(page.url), data={"csrf_token": csrf(page.text),
                                                  "method": "password", "identifier": ID,
                                                  "password": PASSWORD})
    assert done.headers["location"] == "/account", done.text


async def test_enrol_totp_then_step_up_for_the_anti_phishing_code(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    security = await client.get("/account/security")
    assert security.status_code == 200
    assert "Security score: <strong id=\"score\">0%" in security.text
    shown = await follow(client, await client.get("/account/security/setup?method=totp"))
    assert "<svg" in shown.text  # no extra click to see the QR code
    secret = re.search(r'href="otpauth://totp/[^"]*secret=([A-Z2-7]{32})', shown.text)
    assert secret is not None
    code = totp.code_at(secret.group(1), totp.step_of(clock.now()))
    codes_page = await client.post(str(shown.url), data={"csrf_token": csrf(shown.text),
                                                         "method": "totp", "code": code,
                                                         "password": PASSWORD})
    assert codes_page.status_code == 200 and "shown only once" in codes_page.text
    assert len(re.findall(r"<li><code>[A-Z2-7-]{29}</code></li>", codes_page.text)) == 10
    assert 'download="keepgate-recovery-codes.txt"' in codes_page.text

    # a change now needs step-up: the page sends the browser through it and back
    overview = await client.get("/account/security")
    saved = await client.post("/account/security/anti-phishing", data={
        "csrf_token": csrf(overview.text), "code": "Harbour7"})
    assert saved.headers["location"].startswith("/account/step-up?next=")
    step = await follow(client, saved)
    clock.advance(timedelta(seconds=30))
    code = totp.code_at(secret.group(1), totp.step_of(clock.now()))
    back = await client.post(str(step.url), data={"csrf_token": csrf(step.text),
                                                  "method": "totp", "code": code})
    # back to the form, filled with what was submitted, and told what is left to do
    assert back.headers["location"].startswith("/account/security?resume=anti-phishing")
    overview = await client.get(back.headers["location"])
    assert 'value="Harbour7"' in overview.text
    assert "You confirmed it is you. Save your anti-phishing code now." in overview.text
    saved = await client.post("/account/security/anti-phishing", data={
        "csrf_token": csrf(overview.text), "code": "Harbour7"})
    assert saved.headers["location"] == "/account/security?notice=anti-phishing-saved"
    assert 'id="anti-phishing-code">Harbour7<' in (await client.get("/account/security")).text

    # six minutes on, ending other sessions goes through step-up first, and comes back
    clock.advance(timedelta(minutes=6))
    sessions = await client.get("/account/sessions")
    others = await client.post("/account/sessions/revoke-others",
                               data={"csrf_token": csrf(sessions.text)})
    assert others.headers["location"] == "/account/step-up?next=/account/sessions"
    everywhere = await client.post("/account/sign-out-everywhere",
                                   data={"csrf_token": csrf(sessions.text)})
    assert everywhere.headers["location"] == "/account/step-up?next=/account/security/devices"
    not_me = await client.post("/account/security/not-me",
                               data={"csrf_token": csrf(sessions.text)})
    assert not_me.headers["location"] == "/account/step-up?next=/account/security/history"
    assert (await client.get("/account/security")).status_code == 200  # still signed in


async def test_history_and_devices_pages(client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    login = await follow(client, await client.get("/login"))
    assert str(login.url).endswith("/account")  # already signed in
    history = await client.get("/account/security/history")
    assert "Signed in" in history.text and "Chrome on Linux" in history.text
    devices = await client.get("/account/security/devices")
    assert "This device" in devices.text
    device_id = re.search(r'/account/security/devices/([0-9a-f-]{36})/forget', devices.text)
    assert device_id
    forgot = await client.post(f"/account/security/devices/{device_id.group(1)}/forget",
                               data={"csrf_token": csrf(devices.text)})
    assert forgot.headers["location"] == "/account/security/devices?notice=forgotten"
    assert "No trusted devices" in (await client.get("/account/security/devices")).text
    out = await client.post("/account/sign-out-everywhere", data={"csrf_token": csrf(devices.text)})
    assert out.headers["location"] == "/login?notice=signed-out"
    assert (await client.get("/account/security")).headers["location"] == "/login"


async def test_a_stale_sign_in_is_explained_not_looped(client: httpx.AsyncClient, kg: Keepgate,
                                                       clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    clock.advance(timedelta(minutes=16))
    setup = await follow(client, await client.get("/account/security/setup?method=totp"))
    refused = await client.post(str(setup.url), data={"csrf_token": csrf(setup.text),
                                                      "method": "totp"})
    assert refused.status_code == 403
    assert "fresh_sign_in_required" in refused.text
    assert "Sign out, then sign in again" in refused.text


async def test_without_a_factor_a_change_links_to_setting_one_up(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    security = await client.get("/account/security")
    refused = await client.post("/account/security/anti-phishing", data={
        "csrf_token": csrf(security.text), "code": "Blue42"})
    assert refused.status_code == 403
    assert "second_factor_required" in refused.text
    assert 'id="enrol-first"' in refused.text
    assert 'href="/account/security/setup?method=totp"' in refused.text
    setup = await follow(client, await client.get("/account/security/setup?method=contact"))
    refused = await client.post(str(setup.url), data={
        "csrf_token": csrf(setup.text), "method": "contact", "kind": "email",
        "value": "elsewhere@example.com"})
    assert refused.status_code == 403 and 'id="enrol-first"' in refused.text


async def test_authenticator_setup_works_on_a_phone(client: httpx.AsyncClient,
                                                    kg: Keepgate) -> None:
    await signed_up_and_in(client, kg)
    shown = await follow(client, await client.get("/account/security/setup?method=totp"))
    assert 'role="img" aria-label="QR code for your authenticator app"><svg' in shown.text
    link = re.search(r'<a class="button[^"]*" href="(otpauth://totp/[^"]+)">'
                     r'Open in authenticator app</a>', shown.text)
    assert link is not None
    secret = re.search(r"secret=([A-Z2-7]{32})", link.group(1))
    assert secret is not None
    grouped = " ".join(secret.group(1)[i:i + 4] for i in range(0, 32, 4))
    assert f'id="totp-secret">{grouped}<' in shown.text
    assert (f'<button type="button" class="secondary-button" data-copy-text="{secret.group(1)}">'
            "Copy the key</button>") in shown.text
    assert re.search(r'<script type="module" src="[^"]*/static/copy.js"></script>', shown.text)
    assert "<script>" not in shown.text


async def stepped_up_back(client: httpx.AsyncClient, refused: httpx.Response, secret: str,
                          clock: FrozenClock) -> httpx.Response:
    """Through the step-up page the refusal led to, and back where it sends the browser."""
    assert refused.headers["location"].startswith("/account/step-up?next=")
    step = await follow(client, refused)
    clock.advance(timedelta(seconds=30))
    back = await client.post(str(step.url), data={
        "csrf_token": csrf(step.text), "method": "totp",
        "code": totp.code_at(secret, totp.step_of(clock.now()))})
    return await client.get(back.headers["location"])


async def test_step_up_keeps_the_removal_and_the_password_change_asked_for(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    await signed_up_and_in(client, kg)
    shown = await follow(client, await client.get("/account/security/setup?method=totp"))
    found = re.search(r"secret=([A-Z2-7]{32})", shown.text)
    assert found is not None
    secret = found.group(1)
    await client.post(str(shown.url), data={
        "csrf_token": csrf(shown.text), "method": "totp", "password": PASSWORD,
        "code": totp.code_at(secret, totp.step_of(clock.now()))})
    clock.advance(timedelta(minutes=16))  # the second factor is no longer fresh

    overview = await client.get("/account/security")
    factor = re.search(r"/account/security/factors/([\w-]+)/remove", overview.text)
    assert factor is not None
    removal = f"/account/security/factors/{factor.group(1)}/remove"
    back = await stepped_up_back(client, await client.post(removal, data={
        "csrf_token": csrf(overview.text)}), secret, clock)
    assert "You confirmed it is you. Remove Authenticator app now?" in back.text
    assert f'action="{removal}"' in back.text

    clock.advance(timedelta(minutes=16))
    refused = await client.post("/account/security/password", data={
        "csrf_token": csrf(back.text), "current_password": PASSWORD,
        "new_password": "a brand new passphrase for this"})
    assert PASSWORD not in refused.headers["location"]
    back = await stepped_up_back(client, refused, secret, clock)
    assert "You confirmed it is you. Enter your passwords again to change it." in back.text
    assert PASSWORD not in back.text and "brand new" not in str(back.url)
