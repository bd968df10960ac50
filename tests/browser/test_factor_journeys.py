"""Second factors, defences and the security centre in Chromium, as a person uses them.

Each test runs against its own real server (tests/browser/conftest.py); codes are read where a
person would read them, on /dev/messages; TOTP codes come from the secret the page shows, on the
real clock; passkeys come from Chromium's virtual authenticator (DevTools WebAuthn domain).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.async_api import BrowserContext, Locator, Page, expect

from keepgate.security import totp
from tests.browser import steps
from tests.browser.conftest import DESKTOP, MOBILE, PASSWORD, NewContext

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

PHONE = "+447911123456"
WRONG = "definitely not the password"
NEW_PASSWORD = "violet lantern harbour quietly"
SECOND_FACTOR_PAGE = re.compile(r"/login\?flow=[\w-]+(&method=\w+)?$")
SECURITY_PAGE = re.compile(r"/account/security(\?notice=[\w-]+)?$")
IPHONE_SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
MAC_FIREFOX = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 "
               "Firefox/125.0")
# A function, not an expression string: the page's CSP forbids eval.
ALTCHA_VERIFIED = "(widget) => widget.getState?.() === 'verified'"


# TOTP on the real clock ------------------------------------------------------------------


def totp_code(secret: str, used: int | None = None) -> tuple[str, int]:
    """A code the server accepts now and has not seen: the current step, or, when that one
    was used already, the next (one step of drift is accepted). Returns it with its step."""
    now = totp.step_of(datetime.now(UTC))
    step = now if used is None or used < now else used + 1
    assert step <= now + 1, "three TOTP codes inside one 30-second step: the test uses too many"
    return totp.code_at(secret, step), step


def wrong_totp(secret: str) -> str:
    """Six digits that are none of the codes accepted now."""
    now = totp.step_of(datetime.now(UTC))
    accepted = {totp.code_at(secret, step) for step in range(now - 2, now + 3)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


# Pages -------------------------------------------------------------------------------------


async def open_security(page: Page) -> None:
    await steps.account_nav(page).get_by_role("link", name="Security").click()
    await expect(page).to_have_url(SECURITY_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Security")


def factor_list(page: Page) -> Locator:
    return page.locator("ul.factors > li")


async def show_totp_qr(page: Page) -> str:
    """From the security page to the QR code; returns the secret shown as text."""
    await page.get_by_role("link", name="Add an authenticator app").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Add an authenticator app")
    qr = page.get_by_role("img", name="QR code for your authenticator app")  # no extra click
    await expect(qr).to_be_visible()
    await expect(qr.locator("svg")).to_be_visible()
    app_link = page.get_by_role("link", name="Open in authenticator app")
    await expect(app_link).to_have_attribute("href", re.compile(r"^otpauth://totp/"))
    secret = page.locator("#totp-secret")
    await expect(secret).to_have_text(re.compile(r"^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$"))
    key = (await secret.inner_text()).replace(" ", "")
    copy = page.locator("button[data-copy-text]")  # its name changes once it is used
    await expect(copy).to_have_accessible_name("Copy the key")
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await copy.click()
    await expect(copy).to_have_text("Copied")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    return key


async def turn_on_totp(page: Page, secret: str) -> tuple[list[str], int]:
    """Confirm the app with its current code; returns the recovery codes and the step used."""
    code, step = totp_code(secret)
    await page.get_by_label("6-digit code from the app").fill(code)
    await page.get_by_label("Your password").fill(PASSWORD)
    await steps.submit(page, page.get_by_role("button", name="Turn on"))
    return await recovery_codes_shown(page), step


async def recovery_codes_shown(page: Page) -> list[str]:
    await expect(page.get_by_role("heading", level=1)).to_have_text("Save your recovery codes")
    await expect(steps.alert(page)).to_contain_text("These are shown only once.")
    items = page.locator("#recovery-codes > li")
    await expect(items).to_have_count(10)
    await expect(items.first).to_have_text(re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$"))
    return [text.strip() for text in await items.all_inner_texts()]


async def saved_them(page: Page) -> None:
    await page.get_by_role("link", name="I have saved them").click()
    await expect(page).to_have_url(SECURITY_PAGE)


async def enrol_totp(page: Page) -> tuple[str, list[str], int]:
    await open_security(page)
    secret = await show_totp_qr(page)
    codes, step = await turn_on_totp(page, secret)
    await saved_them(page)
    return secret, codes, step


async def password_step(page: Page, identifier: str, password: str = PASSWORD) -> None:
    """Sign in as far as the second factor."""
    await steps.submit_sign_in(page, identifier, password)
    await expect(page).to_have_url(SECOND_FACTOR_PAGE)
    await expect(page.get_by_role("status")).to_contain_text(
        "Confirm it is you with your second factor.")


def other_ways(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Other ways to confirm")


async def signed_in(page: Page) -> None:
    await expect(page).to_have_url(steps.ACCOUNT_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")


async def sign_up_by_phone(page: Page, phone: str) -> None:
    await steps.open_signup(page)
    await steps.submit_credentials(page, phone)
    await expect(page.get_by_label("Verification code")).to_be_visible()
    code = await steps.read_code(page.context, phone, "SMS")
    await steps.enter_code(page, code)
    await steps.signed_in_after_sign_up(page)


def password_form(page: Page) -> Locator:
    return page.locator("form", has=page.get_by_label("Password"))


async def captcha_solved(form: Locator) -> None:
    """Wait (bounded by the expect timeout) until the form's ALTCHA widget solved itself."""
    widget = form.locator("altcha-widget")
    await expect(widget).to_have_count(1)
    await expect(form.locator("input[name=captcha]")).to_have_value(re.compile(r"^.{20,}$"))
    assert await widget.evaluate(ALTCHA_VERIFIED)


async def password_attempt(page: Page, identifier: str, password: str) -> int:
    """One counted sign-in attempt, solving the CAPTCHA first when the server demands it."""
    response = await steps.submit_sign_in(page, identifier, password)
    if response.status == 400:
        await expect(steps.alert(page)).to_contain_text("Error code: captcha.required")
        await captcha_solved(password_form(page))
        await page.get_by_label("Password").fill(password)
        response = await steps.submit(page, page.get_by_role("button", name="Sign in", exact=True))
    return response.status


# a. Authenticator app and recovery codes --------------------------------------------------


async def test_totp_enrolment_sign_in_and_a_recovery_code(page: Page, tmp_path: Path) -> None:
    email = "totp@example.org"
    await steps.sign_up(page, email)
    await steps.sign_in(page, email)
    await open_security(page)
    await expect(page.locator("#score")).to_have_text("0%")
    secret = await show_totp_qr(page)

    # A wrong code is refused on the same page, which still shows the QR code and the key.
    await page.get_by_label("6-digit code from the app").fill(wrong_totp(secret))
    await page.get_by_label("Your password").fill(PASSWORD)
    response = await steps.submit(page, page.get_by_role("button", name="Turn on"))
    assert response.status == 400
    await expect(steps.alert(page)).to_contain_text("Error code: code.invalid")
    await expect(page.locator("#totp-secret")).to_have_text(
        " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)))

    codes, used = await turn_on_totp(page, secret)
    assert len(set(codes)) == 10
    # Download: a text file with every code.
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="Download").click()
    download = await download_info.value
    assert download.suggested_filename == "keepgate-recovery-codes.txt"
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.read_text().split() == ["Keepgate", "recovery", "codes", *codes]
    # Copy: the codes, one per line, on the clipboard.
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy = page.get_by_role("button", name="Copy")
    await copy.click()
    await expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert await page.evaluate("() => navigator.clipboard.readText()") == "\n".join(codes)

    await saved_them(page)
    await expect(factor_list(page)).to_have_count(1)
    await expect(factor_list(page).first).to_contain_text("Authenticator app")
    await expect(page.get_by_text("Recovery codes left:")).to_contain_text("10")

    # Sign in again: the password alone is not enough any more.
    await steps.sign_out(page)
    await password_step(page, email)
    totp_field = page.get_by_label("Code from your authenticator app")
    await expect(totp_field).to_be_visible()
    await expect(other_ways(page).get_by_role("link")).to_have_text(["A recovery code"])
    # A wrong code: announced, marked on the field, and the same form comes back.
    wrong = wrong_totp(secret)
    await totp_field.fill(wrong)
    response = await steps.submit(page, page.get_by_role("button", name="Continue"))
    assert response.status == 400
    await expect(steps.alert(page)).to_have_count(1)
    await expect(steps.alert(page)).to_contain_text("Error code: code.invalid")
    await expect(totp_field).to_have_attribute("aria-invalid", "true")
    await expect(totp_field).to_have_accessible_description(
        re.compile(r"^Open the app and enter the 6-digit code.*That code is not correct"))
    code, used = totp_code(secret, used)
    await totp_field.fill(code)
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await signed_in(page)

    # And once more with a recovery code, through "try another way".
    await steps.sign_out(page)
    await password_step(page, email)
    await other_ways(page).get_by_role("link", name="A recovery code").click()
    recovery = page.get_by_label("Recovery code")
    await expect(recovery).to_be_visible()
    await expect(other_ways(page).get_by_role("link")).to_have_text(["Authenticator app"])
    await recovery.fill("AAAA-AAAA-AAAA-AAAA")
    response = await steps.submit(page, page.get_by_role("button", name="Continue"))
    assert response.status == 400
    await expect(steps.alert(page)).to_contain_text("not valid or was already used")
    await expect(recovery).to_have_attribute("aria-invalid", "true")  # still the recovery form
    await recovery.fill(codes[3].lower())
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await signed_in(page)
    await open_security(page)
    await expect(page.get_by_text("Recovery codes left:")).to_contain_text("9")


# b. Passkeys ------------------------------------------------------------------------------


async def virtual_authenticator(context: BrowserContext, page: Page) -> tuple[Any, str]:
    cdp = await context.new_cdp_session(page)
    await cdp.send("WebAuthn.enable")
    added = await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True,
        "hasUserVerification": True, "isUserVerified": True}})
    return cdp, str(added["authenticatorId"])


async def test_passkey_enrolment_and_passwordless_sign_in(new_context: NewContext) -> None:
    context = await new_context()
    page = await context.new_page()
    cdp, authenticator = await virtual_authenticator(context, page)
    email = "passkey@example.org"
    await steps.sign_up(page, email)
    await steps.sign_in(page, email)
    await open_security(page)

    await page.get_by_role("link", name="Add a passkey or security key").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        "Add a passkey or security key")
    await expect(page.get_by_label("Make it a passkey (sign in without a password)")
                 ).to_be_checked()
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await page.get_by_label("Name this key").fill("Test laptop")
    await page.get_by_label("Your password").fill(PASSWORD)
    await steps.submit(page, page.get_by_role("button", name="Create the passkey"))
    await recovery_codes_shown(page)
    credentials = (await cdp.send("WebAuthn.getCredentials",
                                  {"authenticatorId": authenticator}))["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"]
    await saved_them(page)
    await expect(factor_list(page)).to_have_count(1)
    await expect(factor_list(page).first).to_contain_text("Test laptop")
    await expect(factor_list(page).first).to_contain_text("passkey")

    # No user verification, no passwordless sign-in: refused and announced, and the page
    # offers the passkey again with a fresh challenge.
    await steps.sign_out(page)
    await cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                                "isUserVerified": False})
    passkey = page.get_by_role("button", name="Sign in with a passkey")
    response = await steps.submit(page, passkey)
    assert response.status == 400
    await expect(steps.alert(page)).to_contain_text("Error code: factor.invalid_response")
    await expect(page.get_by_label("Password")).to_be_visible()

    await cdp.send("WebAuthn.setUserVerified", {"authenticatorId": authenticator,
                                                "isUserVerified": True})
    await steps.submit(page, passkey)  # no identifier, no password
    await signed_in(page)
    await open_security(page)
    await expect(factor_list(page).first).to_contain_text("last used")

    # The same key is also the second factor after a password.
    await steps.sign_out(page)
    await password_step(page, email)
    await expect(other_ways(page).get_by_role("link")).to_have_text(["A recovery code"])
    await steps.submit(page, page.get_by_role("button", name="Use your passkey or security key"))
    await signed_in(page)


# c. Codes by SMS and by email -------------------------------------------------------------


@pytest.mark.parametrize(("identifier", "add", "enrol_subject", "sign_in_subject", "send"), [
    (PHONE, "Add SMS codes", "SMS", "SMS", "Send me a code by SMS"),
    ("mail.codes@example.org", "Add email codes", "Confirm your new sign-in method",
     "Your Keepgate sign-in code", "Send me a code by email"),
], ids=["sms", "email"])
async def test_sent_codes_as_second_factor(page: Page, identifier: str, add: str,
                                           enrol_subject: str, sign_in_subject: str,
                                           send: str, artifacts: Path) -> None:
    if identifier.startswith("+"):
        await sign_up_by_phone(page, identifier)
    else:
        await steps.sign_up(page, identifier)
    await steps.sign_in(page, identifier)
    await open_security(page)
    await page.get_by_role("link", name=add).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(add)
    await steps.submit(page, page.get_by_role("button", name="Send me a code"))
    await expect(page.get_by_role("status")).to_contain_text("We sent a code to")
    code = await steps.read_code(page.context, identifier, enrol_subject)
    await page.get_by_label("Code").fill(code)
    await page.get_by_label("Your password").fill(PASSWORD)
    await steps.submit(page, page.get_by_role("button", name="Confirm"))
    await recovery_codes_shown(page)
    await saved_them(page)
    await expect(factor_list(page)).to_have_count(1)

    await steps.sign_out(page)
    await password_step(page, identifier)
    code_field = page.get_by_label("Code", exact=True)
    await expect(code_field).to_be_visible()
    await expect(other_ways(page).get_by_role("link")).to_have_text(["A recovery code"])
    # A code typed before asking for one is refused, on the same form.
    await code_field.fill("123456")
    response = await steps.submit(page, page.get_by_role("button", name="Continue"))
    assert response.status == 400
    await expect(steps.alert(page)).to_contain_text("Error code: code.not_sent")
    await expect(code_field).to_have_attribute("aria-invalid", "true")

    await steps.submit(page, page.get_by_role("button", name=send))
    await expect(page).to_have_url(SECOND_FACTOR_PAGE)
    await expect(page.get_by_role("status")).to_contain_text("We sent a code to")
    await expect(code_field).not_to_have_attribute("aria-invalid", "true")
    kind = "sms" if identifier.startswith("+") else "email"
    await steps.screenshot(page, artifacts, f"login-{kind}-code")
    code = await steps.read_code(page.context, identifier, sign_in_subject)
    await code_field.fill(code)
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await signed_in(page)


# d. Five failures pause sign-in ----------------------------------------------------------


async def test_five_failures_pause_sign_in_but_not_on_the_owners_device(
        new_context: NewContext) -> None:
    email = "paused@example.org"
    owner = await (await new_context()).new_page()
    await steps.sign_up(owner, email)  # this browser is now a trusted device
    stranger = await (await new_context(user_agent=MAC_FIREFOX)).new_page()

    answers = []
    for attempt in range(5):
        assert await password_attempt(stranger, email, WRONG) == 401, attempt
        answers.append(await steps.alert(stranger).inner_text())
    # Paused now: the right password gets the very same answer.
    assert await password_attempt(stranger, email, PASSWORD) == 401
    answers.append(await steps.alert(stranger).inner_text())
    assert len(set(answers)) == 1, answers
    assert "Error code: login.invalid_credentials" in answers[0]
    await expect(stranger).to_have_url(steps.LOGIN_PAGE)

    body = await steps.read_message(owner.context, email, "Sign-in to your account is paused")
    assert "5 failed attempts" in body
    await steps.sign_in(owner, email)  # the owner's own device still signs in


# e. CAPTCHA after three failures -------------------------------------------------------


async def test_captcha_after_three_failures_solves_itself(new_context: NewContext) -> None:
    email = "robot.check@example.org"
    owner = await (await new_context()).new_page()
    await steps.sign_up(owner, email)
    laptop = await (await new_context(user_agent=MAC_FIREFOX)).new_page()
    for attempt in range(3):
        response = await steps.submit_sign_in(laptop, email, WRONG)
        assert response.status == 401
        # the failure that makes proof of work necessary shows the widget in its own answer
        await expect(laptop.locator("altcha-widget")).to_have_count(1 if attempt == 2 else 0)

    # A new sign-in: the server asks for proof of work, and the page shows the widget.
    await laptop.goto("/login")
    await expect(laptop).to_have_url(steps.LOGIN_PAGE)
    await expect(laptop.locator("altcha-widget")).to_have_count(0)
    response = await steps.submit_sign_in(laptop, email, PASSWORD)
    assert response.status == 400
    await expect(steps.alert(laptop)).to_contain_text(
        "Please complete the check that you are not a robot.")
    await expect(steps.alert(laptop)).to_contain_text("Error code: captcha.required")
    form = password_form(laptop)
    await expect(form.locator("altcha-widget")).to_be_visible()
    await expect(laptop.get_by_label("Email or mobile number")).to_have_value(email)
    # The demand belongs to the flow: reloading its page keeps the widget.
    await laptop.reload()
    await captcha_solved(form)
    # There is one widget; a passkey attempt takes its solution along (webauthn.js). This
    # authenticator holds no passkey, so the attempt is refused, and the page asks again.
    await expect(laptop.locator("altcha-widget")).to_have_count(1)
    await virtual_authenticator(laptop.context, laptop)
    async with laptop.expect_request(lambda r: r.method == "POST") as posted:
        response = await steps.submit(
            laptop, laptop.get_by_role("button", name="Sign in with a passkey"))
    sent = parse_qs((await posted.value).post_data or "")
    assert sent["method"] == ["webauthn"] and sent["credential"] == ["{}"]
    assert len(sent["captcha"][0]) > 20
    assert response.status == 400
    await expect(steps.alert(laptop)).to_contain_text("Error code: factor.invalid_response")
    await captcha_solved(form)
    await laptop.get_by_label("Email or mobile number").fill(email)
    await laptop.get_by_label("Password").fill(PASSWORD)
    await steps.submit(laptop, laptop.get_by_role("button", name="Sign in", exact=True))
    await expect(laptop.get_by_label("Confirmation code")).to_be_visible()  # a new device
    code = await steps.read_code(laptop.context, email, steps.NEW_DEVICE_CODE)
    await laptop.get_by_label("Confirmation code").fill(code)
    await steps.submit(laptop, laptop.get_by_role("button", name="Confirm and sign in"))
    await signed_in(laptop)


# f. A new device confirms itself ---------------------------------------------------------


async def test_new_device_code_and_the_this_wasnt_me_link(new_context: NewContext) -> None:
    email = "devices@example.org"
    owner = await (await new_context()).new_page()
    await steps.sign_up(owner, email)
    await steps.sign_in(owner, email)
    phone = await (await new_context(viewport=MOBILE, user_agent=IPHONE_SAFARI)).new_page()
    await steps.submit_sign_in(phone, email)
    await expect(phone.get_by_role("status")).to_contain_text("This device is new to us.")
    body = await steps.read_message(phone.context, email, steps.NEW_DEVICE_CODE)
    assert "Safari on iPhone" in body
    link = re.search(r"(http://localhost:\d+/not-me\?token=\S+)", body)
    assert link, body
    code = steps.EMAIL_CODE_RE.search(body)
    assert code
    field = phone.get_by_label("Confirmation code")
    await field.fill("000000" if code.group(1) != "000000" else "111111")
    response = await steps.submit(phone, phone.get_by_role("button", name="Confirm and sign in"))
    assert response.status == 400
    await expect(steps.alert(phone)).to_contain_text("Error code: code.invalid")
    await expect(field).to_have_attribute("aria-invalid", "true")
    await field.fill(code.group(1))
    await steps.submit(phone, phone.get_by_role("button", name="Confirm and sign in"))
    await signed_in(phone)

    # The owner follows "this wasn't me": the link only asks; the button does it.
    await owner.goto(link.group(1))
    await expect(owner.get_by_role("heading", level=1)).to_have_text("Wasn't you?")
    await steps.submit(owner, owner.get_by_role(
        "button", name="Sign out everywhere and lock my account"))
    await expect(owner.get_by_role("status")).to_contain_text("sign-in to your account is locked")
    for device in (owner, phone):
        await device.goto("/account")
        await expect(device).to_have_url(steps.LOGIN_PAGE)


# g. The security centre ------------------------------------------------------------------


async def test_security_centre_step_up_password_sessions_and_history(
        new_context: NewContext) -> None:
    email = "centre@example.org"
    laptop = await (await new_context()).new_page()
    phone = await (await new_context(user_agent=IPHONE_SAFARI)).new_page()
    tablet = await (await new_context(user_agent=MAC_FIREFOX)).new_page()
    await steps.sign_up(laptop, email)
    await steps.sign_in(laptop, email)
    for device in (phone, tablet):
        await steps.sign_in(device, email, new_device=True)
    secret, _, used = await enrol_totp(laptop)

    # The anti-phishing code is a sensitive change: through step-up (TOTP) and back.
    await laptop.get_by_label("Code", exact=True).fill("Harbour7")
    await steps.submit(laptop, laptop.get_by_role("button", name="Save code"))
    await expect(laptop).to_have_url(re.compile(r"/account/step-up\?flow=[\w-]+&next="))
    await expect(laptop.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    code, used = totp_code(secret, used)
    await laptop.get_by_label("Code from your authenticator app").fill(code)
    await steps.submit(laptop, laptop.get_by_role("button", name="Continue"))
    # back to the form as it was sent, and told what is left to do
    await expect(laptop).to_have_url(re.compile(r"/account/security\?resume=anti-phishing-saved"))
    await expect(laptop.locator("#resume")).to_have_text(
        "You confirmed it is you. Save your anti-phishing code now.")
    await expect(laptop.get_by_label("Code", exact=True)).to_have_value("Harbour7")
    await steps.submit(laptop, laptop.get_by_role("button", name="Save code"))
    await expect(laptop.get_by_role("status")).to_have_text("Your anti-phishing code is saved.")
    await expect(laptop.locator("#anti-phishing-code")).to_have_text("Harbour7")
    body = await steps.read_message(laptop.context, email, "Your anti-phishing code was changed")
    assert body.startswith("Your anti-phishing code: Harbour7\n")

    # The phone, signed in before the factor existed and never stepped up, cannot end the
    # tablet's session: it is sent to step-up first (a stolen session must not evict the owner).
    await steps.open_sessions(phone)
    await expect(steps.session_items(phone)).to_have_count(3)
    await steps.submit(phone, phone.get_by_role("button", name="Sign out Firefox on macOS"))
    await steps.confirm(phone, "Sign out Firefox on macOS")
    await expect(phone.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    # The laptop, stepped up a moment ago, ends it.
    await steps.open_sessions(laptop)
    await steps.submit(laptop, laptop.get_by_role("button",
                                                  name="Sign out Firefox on macOS"))
    await steps.confirm(laptop, "Sign out Firefox on macOS")
    await expect(laptop.get_by_role("status")).to_have_text("Signed out 1 session.")
    await expect(steps.session_items(laptop)).to_have_count(2)
    await tablet.goto("/account")
    await expect(tablet).to_have_url(steps.LOGIN_PAGE)

    # A new password (still inside the step-up window) ends every other session.
    await open_security(laptop)
    await laptop.get_by_label("Current password").fill(PASSWORD)
    await laptop.get_by_label("New password").fill(NEW_PASSWORD)
    await steps.submit(laptop, laptop.get_by_role("button", name="Change password"))
    await expect(laptop.get_by_role("status").filter(has_text="Your password is changed.")
                 ).to_have_count(1)
    await expect(laptop.get_by_role("status").filter(has_text="Withdrawals are on hold")
                 ).to_have_count(1)
    body = await steps.read_message(laptop.context, email, "Your password was changed")
    assert body.startswith("Your anti-phishing code: Harbour7\n")  # in every message now
    await phone.goto("/account")
    await expect(phone).to_have_url(steps.LOGIN_PAGE)
    await laptop.goto("/account")
    await signed_in(laptop)

    # Someone tries the old password from the tablet; the owner reads about it.
    response = await steps.submit_sign_in(tablet, email, PASSWORD)
    assert response.status == 401
    await open_security(laptop)
    await laptop.get_by_role("link", name="Login history").click()
    await expect(laptop.get_by_role("heading", level=1)).to_have_text("Login history")
    rows = laptop.get_by_role("table").locator("tbody > tr")
    failed = rows.filter(has_text="Failed · Wrong password")
    await expect(failed).to_have_count(1)
    await expect(failed).to_contain_text("Firefox on macOS")
    await expect(failed).to_contain_text("127.0.0.1")
    await laptop.get_by_label("Show").select_option("failure")
    await steps.submit(laptop, laptop.get_by_role("button", name="Filter"))
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Failed · Wrong password")


# Screenshots -----------------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
async def test_factor_screenshots(new_context: NewContext, viewport: dict[str, int],
                                  artifacts: Path) -> None:
    """The new pages, for a human to look at; each must fit its viewport's width."""
    page = await (await new_context(viewport=viewport)).new_page()
    email = f"factor-screens-{viewport['width']}@example.org"
    await steps.sign_up(page, email)
    await steps.screenshot(page, artifacts, "login-passkey")
    await steps.sign_in(page, email)
    # a failure for the history page
    stranger = await (await new_context(viewport=viewport, user_agent=MAC_FIREFOX)).new_page()
    assert (await steps.submit_sign_in(stranger, email, WRONG)).status == 401

    await open_security(page)
    await steps.screenshot(page, artifacts, "security")
    secret = await show_totp_qr(page)
    await steps.screenshot(page, artifacts, "totp-qr")
    await turn_on_totp(page, secret)
    await steps.screenshot(page, artifacts, "recovery-codes")
    await saved_them(page)
    await steps.screenshot(page, artifacts, "security-with-factor")

    await page.get_by_label("Code", exact=True).fill("Harbour7")
    await steps.submit(page, page.get_by_role("button", name="Save code"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Confirm it is you")
    await steps.screenshot(page, artifacts, "step-up")

    await page.goto("/account/security/history")
    await expect(page.get_by_role("table").locator("tbody > tr.failure")).to_have_count(1)
    await steps.screenshot(page, artifacts, "history")

    await steps.sign_out(page)
    await password_step(page, email)
    await steps.screenshot(page, artifacts, "login-second-factor")
    await page.get_by_label("Code from your authenticator app").fill("12")
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await expect(steps.alert(page)).to_be_visible()
    await steps.screenshot(page, artifacts, "login-second-factor-error")
    await other_ways(page).get_by_role("link", name="A recovery code").click()
    await expect(page.get_by_label("Recovery code")).to_be_visible()
    await expect(steps.alert(page)).to_have_count(0)  # the last error was the other form's
    await steps.screenshot(page, artifacts, "login-recovery-code")

    captcha = await (await new_context(viewport=viewport)).new_page()
    for _ in range(4):  # until the identifier has had three failures
        if (await steps.submit_sign_in(captcha, email, WRONG)).status == 400:
            break
    await captcha_solved(password_form(captcha))
    await steps.screenshot(captcha, artifacts, "login-captcha")
