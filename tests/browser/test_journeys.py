"""Whole user journeys in Chromium against a real server: what a person sees and can do."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from keepgate.domain.kyc import TIERS
from tests.browser import steps
from tests.browser.conftest import DESKTOP, MOBILE, PASSWORD, LiveServer, NewContext

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

# Two recognisable devices, so the sessions page has something to tell apart.
WINDOWS_CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
                  "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
MAC_FIREFOX = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 "
               "Firefox/125.0")


async def test_sign_up_sign_in_look_around_and_sign_out(page: Page) -> None:
    email = "Ada.Lovelace@Example.org"
    await steps.sign_up(page, email)  # ends on /login with "Your account is ready"
    await steps.sign_in(page, email)  # from that same page, landing on /account
    facts = page.locator("dl.facts")
    await expect(facts).to_contain_text("ada.lovelace@example.org")
    await expect(page.locator("dd", has=page.locator(".badge"))).to_have_text("Restricted")
    await expect(facts).to_contain_text(f"Tier 0 · {TIERS[0].name}")
    await expect(page.get_by_role("status")).to_contain_text("Your account is restricted")

    table = page.get_by_role("table", name="Verification tiers and what each allows")
    await expect(table.get_by_role("columnheader")).to_have_text(
        ["Tier", "You provide", "You can", "Daily withdrawal limit"])
    rows = table.locator("tbody > tr")
    await expect(rows).to_have_count(len(TIERS))
    await expect(rows.first).to_have_attribute("aria-current", "true")
    await expect(rows.first.get_by_role("rowheader")).to_contain_text("You are here")
    await expect(table.locator("tbody > tr[aria-current]")).to_have_count(1)
    await expect(rows.nth(1)).to_contain_text("5,000.00 USD")
    card = page.get_by_role("region", name=f"Your verification: tier 0 · {TIERS[0].name}")
    await expect(card).to_contain_text(f"Next: tier 1 · {TIERS[1].name}")
    await expect(card.get_by_role("link", name="Verify for tier 1")).to_be_visible()
    account_link = steps.account_nav(page).get_by_role("link", name="Account")
    await expect(account_link).to_have_attribute("aria-current", "page")

    await steps.open_sessions(page)
    sessions = steps.session_items(page)
    await expect(sessions).to_have_count(1)
    await expect(sessions.first.locator(".badge")).to_have_text("This device")
    await expect(sessions.first).to_contain_text("IP 127.0.0.1")
    await expect(page.get_by_role("button", name="Sign out all other sessions")).to_have_count(0)
    await expect(account_link).not_to_have_attribute("aria-current", "page")

    await steps.sign_out(page)
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await expect(page.get_by_label("Email or mobile number")).to_be_visible()
    cookies = {c["name"] for c in await page.context.cookies()}
    assert "keepgate_session" not in cookies

    await page.goto("/account")
    await expect(page).to_have_url(steps.LOGIN_PAGE)
    await page.goto("/account/sessions")
    await expect(page).to_have_url(steps.LOGIN_PAGE)


async def test_signup_errors_are_announced_and_marked_on_the_field(page: Page) -> None:
    email = "grace@example.org"
    await steps.open_signup(page)

    response = await steps.submit_credentials(page, email, "short")
    assert response.status == 400
    await expect(page).to_have_url(steps.SIGNUP_PAGE)
    await expect(steps.alert(page)).to_have_count(1)
    await expect(steps.alert(page)).to_contain_text("Error code: password.too_short")
    password = page.get_by_label("Password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    # A screen reader on the field hears its hint and the error, not just "invalid".
    await expect(password).to_have_accessible_description(
        re.compile(r"^At least 15 characters\..*Use at least 15 characters.*password\.too_short"))
    await expect(password).to_have_value("")  # a password is never sent back into the page
    identifier = page.get_by_label("Email or mobile number")
    await expect(identifier).not_to_have_attribute("aria-invalid", "true")
    await expect(identifier).to_have_accessible_description(re.compile(
        r"^For a mobile number, choose its country below .* or start with \+ and the country "
        r"code \(e\.g\. \+1 201-555-0123\)\.$"))  # the browser's en-US: an American example
    await expect(identifier).to_have_value(email)
    await expect(page.get_by_label("I accept the terms of service")).to_be_checked()

    await page.get_by_label("I accept the terms of service").uncheck()
    await steps.submit_credentials(page, email, PASSWORD, accept_terms=False)
    await expect(steps.alert(page)).to_contain_text(
        "Error code: registration.terms_not_accepted")
    await expect(page.get_by_label("I accept the terms of service")).to_have_attribute(
        "aria-invalid", "true")
    await expect(page.get_by_label("Password")).not_to_have_attribute("aria-invalid", "true")

    await steps.submit_credentials(page, "not an address", PASSWORD)
    await expect(steps.alert(page)).to_contain_text("Error code: identifier.invalid")
    await expect(identifier).to_have_attribute("aria-invalid", "true")

    await steps.submit_credentials(page, email, PASSWORD)
    await expect(page.get_by_role("status")).to_contain_text("We sent a 6-digit code")
    code = await steps.read_code(page.context, email)
    wrong = "000000" if code != "000000" else "111111"
    response = await steps.enter_code(page, wrong)
    assert response.status == 400
    await expect(steps.alert(page)).to_have_count(1)
    await expect(steps.alert(page)).to_contain_text("That code is not correct. 4 attempts left.")
    await expect(steps.alert(page)).to_contain_text("Error code: code.invalid")
    await expect(page.get_by_label("Verification code")).to_have_attribute(
        "aria-invalid", "true")
    await expect(page.get_by_label("Verification code")).to_have_accessible_description(
        re.compile(r"^We sent it to g•+@example\.org\..*4 attempts left"))

    await steps.enter_code(page, wrong)
    await expect(steps.alert(page)).to_contain_text("3 attempts left.")

    # The right code still finishes the sign-up after wrong ones.
    await steps.enter_code(page, code)
    await steps.signed_in_after_sign_up(page)


async def test_sign_in_errors_are_generic(page: Page) -> None:
    email = "katherine@example.org"
    await steps.sign_up(page, email)

    for identifier, password in ((email, "not the right password at all"),
                                 ("nobody@example.org", PASSWORD)):
        response = await steps.submit_sign_in(page, identifier, password)
        assert response.status == 401
        await expect(steps.alert(page)).to_have_count(1)
        await expect(steps.alert(page)).to_contain_text(
            "The identifier or password is not correct.")
        await expect(steps.alert(page)).to_contain_text("Error code: login.invalid_credentials")
        for field in ("Email or mobile number", "Password"):
            await expect(page.get_by_label(field)).to_have_attribute("aria-invalid", "true")
            await expect(page.get_by_label(field)).to_have_accessible_description(
                re.compile(r"^The identifier or password is not correct\."))
        await expect(page.get_by_label("Password")).to_have_value("")
        await expect(page.get_by_label("Email or mobile number")).to_have_value(identifier)
        await expect(page).to_have_url(steps.LOGIN_PAGE)

    await steps.sign_in(page, email)


async def test_signing_out_another_device_ends_its_session(new_context: NewContext) -> None:
    laptop = await (await new_context(user_agent=WINDOWS_CHROME)).new_page()
    phone = await (await new_context(viewport=MOBILE, user_agent=IPHONE_SAFARI)).new_page()
    email = "margaret@example.org"
    await steps.sign_up(laptop, email)
    await steps.sign_in(laptop, email)
    await steps.sign_in(phone, email, new_device=True)

    await steps.open_sessions(laptop)
    sessions = steps.session_items(laptop)
    await expect(sessions).to_have_count(2)
    this = sessions.filter(has=laptop.locator(".badge", has_text="This device"))
    await expect(this).to_have_count(1)
    await expect(this).to_contain_text("Chrome on Windows")
    await expect(sessions.filter(has_text="Safari on iPhone")).to_have_count(1)

    phone_button = laptop.get_by_role("button", name="Sign out Safari on iPhone")
    await steps.submit(laptop, phone_button)
    await steps.confirm(laptop, "Sign out Safari on iPhone")
    await expect(laptop.get_by_role("status")).to_have_text("Signed out 1 session.")
    await expect(sessions).to_have_count(1)
    await expect(sessions.first).to_contain_text("This device")

    await phone.goto("/account")
    await expect(phone).to_have_url(steps.LOGIN_PAGE)
    await laptop.goto("/account")
    await expect(laptop).to_have_url(steps.ACCOUNT_PAGE)


async def test_sign_out_all_other_sessions(new_context: NewContext) -> None:
    devices = [await (await new_context(user_agent=agent)).new_page()
               for agent in (WINDOWS_CHROME, IPHONE_SAFARI, MAC_FIREFOX)]
    laptop, others = devices[0], devices[1:]
    email = "hedy@example.org"
    await steps.sign_up(laptop, email)
    for device in devices:
        await steps.sign_in(device, email, new_device=device is not laptop)

    await steps.open_sessions(laptop)
    await expect(steps.session_items(laptop)).to_have_count(3)
    await steps.submit(laptop, laptop.get_by_role("button", name="Sign out all other sessions"))
    await steps.confirm(laptop, "Sign out all other sessions")
    await expect(laptop.get_by_role("status")).to_have_text("Signed out 2 sessions.")
    await expect(steps.session_items(laptop)).to_have_count(1)
    await expect(laptop.get_by_role("button", name="Sign out all other sessions")
                 ).to_have_count(0)

    for device in others:
        await device.goto("/account")
        await expect(device).to_have_url(steps.LOGIN_PAGE)
    await laptop.goto("/account")
    await expect(laptop).to_have_url(steps.ACCOUNT_PAGE)


async def test_signing_out_this_device_from_the_sessions_page(page: Page) -> None:
    email = "barbara@example.org"
    await steps.sign_up(page, email)
    await steps.sign_in(page, email)
    await steps.open_sessions(page)
    this_device = page.get_by_role("button", name=re.compile(r"^Sign out .*\(this device\)$"))
    await steps.submit(page, this_device)
    await steps.confirm(page, "Sign out this device")
    await expect(page).to_have_url(steps.LOGIN_PAGE)
    await expect(page.get_by_role("status")).to_have_text("You are signed out.")
    await page.goto("/account")
    await expect(page).to_have_url(steps.LOGIN_PAGE)


async def test_logout_without_csrf_token_is_refused(page: Page, live_server: LiveServer) -> None:
    email = "radia@example.org"
    await steps.sign_up(page, email)
    await steps.sign_in(page, email)
    request = page.context.request  # shares the browser's cookies: session and CSRF cookie

    for form in ({}, {"csrf_token": "forged"}):
        response = await request.post("/logout", form=form, max_redirects=0)
        assert response.status == 403, await response.text()
        assert response.headers["content-type"].startswith("text/html")
        body = await response.text()
        assert 'role="alert"' in body
        assert "<code>csrf.invalid</code>" in body

    # A form planted on another site fails the same way, and a person sees why.
    await page.set_content(
        f'<form method="post" action="{live_server.url}/logout"><button>Go</button></form>')
    response = await steps.submit(page, page.get_by_role("button", name="Go"))
    assert response.status == 403
    await expect(page.get_by_role("heading", level=1)).to_have_text("We could not do that")
    await expect(steps.alert(page)).to_contain_text("Error code: csrf.invalid")

    # The session survived every forged attempt...
    await page.goto("/account")
    await expect(page).to_have_url(steps.ACCOUNT_PAGE)
    # ...and the same request with the page's own token is what signs out.
    token = await page.locator('form[action="/logout"] input[name="csrf_token"]').input_value()
    response = await request.post("/logout", form={"csrf_token": token}, max_redirects=0)
    assert response.status == 303
    assert response.headers["location"] == "/login?notice=signed-out"
    await page.goto("/account")
    await expect(page).to_have_url(steps.LOGIN_PAGE)


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
async def test_screenshots(new_context: NewContext, viewport: dict[str, int],
                           artifacts: Path) -> None:
    """Screenshots for a human to look at; each page must also fit its viewport's width."""
    page = await (await new_context(viewport=viewport)).new_page()
    email = f"screens-{viewport['width']}@example.org"
    await steps.open_signup(page)
    await steps.screenshot(page, artifacts, "signup")
    await steps.submit_credentials(page, email, "short")
    await expect(steps.alert(page)).to_be_visible()
    await steps.screenshot(page, artifacts, "signup-error")
    await steps.submit_credentials(page, email, PASSWORD)
    await expect(page.get_by_label("Verification code")).to_be_visible()
    await steps.screenshot(page, artifacts, "code")
    code = await steps.read_code(page.context, email)
    await steps.enter_code(page, "000000" if code != "000000" else "111111")
    await expect(steps.alert(page)).to_be_visible()
    await steps.screenshot(page, artifacts, "code-error")
    await steps.enter_code(page, code)
    await steps.signed_in_after_sign_up(page)
    await steps.screenshot(page, artifacts, "login")
    await steps.sign_in(page, email)
    await steps.screenshot(page, artifacts, "account")
    # However it is laid out, the tiers table is still a table to assistive technology.
    table = page.get_by_role("table", name="Verification tiers and what each allows")
    await expect(table.get_by_role("columnheader")).to_have_count(4)
    await expect(table.get_by_role("rowheader")).to_have_count(len(TIERS))
    await expect(table.get_by_role("cell").first).to_be_visible()

    # A second device of the same size must confirm itself with a code.
    other = await (await new_context(viewport=viewport, user_agent=IPHONE_SAFARI)).new_page()
    await steps.submit_sign_in(other, email)
    await expect(other.get_by_label("Confirmation code")).to_be_visible()
    await steps.screenshot(other, artifacts, "device-code")
    code = await steps.read_code(other.context, email, steps.NEW_DEVICE_CODE)
    await other.get_by_label("Confirmation code").fill(code)
    await steps.submit(other, other.get_by_role("button", name="Confirm and sign in"))
    await expect(other).to_have_url(steps.ACCOUNT_PAGE)

    await steps.open_sessions(page)
    await expect(steps.session_items(page)).to_have_count(2)
    await steps.screenshot(page, artifacts, "sessions")
