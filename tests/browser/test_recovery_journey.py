"""A customer who forgot the password gets back in, in Chromium, at desktop and phone sizes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from tests.browser import steps
from tests.browser.conftest import DESKTOP, MOBILE, NewContext
from tests.browser.test_factor_journeys import enrol_totp, other_ways, totp_code

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

RECOVER_PAGE = re.compile(r"/recover\?flow=[\w-]+(&method=\w+)?$")
RESET_CODE = "Your Keepgate password reset code"
NEW_PASSWORD = "violet lantern harbour quietly at noon"


async def newest_code(context: BrowserContext, email: str, subject: str) -> str:
    """The code in the newest message to ``email`` headed ``subject`` (a recovery-code notice
    may have come after it)."""
    tab = await context.new_page()
    try:
        await tab.goto("/dev/messages")
        message = tab.get_by_role("article").filter(
            has=tab.locator(".to", has_text=re.compile(f"^{re.escape(email)}$"))).filter(
            has=tab.get_by_role("heading", name=subject)).first
        body = await message.locator("pre.body").inner_text()
    finally:
        await tab.close()
    found = steps.EMAIL_CODE_RE.search(body)
    assert found, body
    return found.group(1)


@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "mobile"])
async def test_forgot_password_code_authenticator_new_password_and_sign_in(
        new_context: NewContext, viewport: dict[str, int], artifacts: Path) -> None:
    page = await (await new_context(viewport=viewport)).new_page()
    email = f"forgetful-{viewport['width']}@example.org"
    await steps.sign_up(page, email)
    await steps.sign_in(page, email)
    secret, codes, used = await enrol_totp(page)
    await steps.sign_out(page)

    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page).to_have_url(RECOVER_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Reset your password")
    await steps.screenshot(page, artifacts, "recover")
    await page.get_by_label("Email or mobile number").fill(email)
    await steps.submit(page, page.get_by_role("button", name="Send me a code"))
    await expect(page.get_by_role("status")).to_contain_text("we sent a 6-digit code")

    await page.get_by_label("Reset code").fill("000000")
    response = await steps.submit(page, page.get_by_role("button", name="Continue"))
    if response.status == 400:  # the one time in a million the real code is 000000 it passes
        await expect(steps.alert(page)).to_contain_text("Error code: code.invalid")
    code = await steps.read_code(page.context, email, RESET_CODE)
    await page.get_by_label("Reset code").fill(code)
    await steps.submit(page, page.get_by_role("button", name="Continue"))

    # The reset never skips the second factor: the authenticator app, or another way.
    await expect(page.get_by_role("status")).to_contain_text("Your account has a second factor")
    await expect(other_ways(page).get_by_role("link")).to_have_text(["A recovery code"])
    await steps.screenshot(page, artifacts, "recover-factor")
    totp, _ = totp_code(secret, used)
    await page.get_by_label("Code from your authenticator app").fill(totp)
    await steps.submit(page, page.get_by_role("button", name="Continue"))

    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await steps.screenshot(page, artifacts, "recover-password")
    await steps.submit(page, page.get_by_role("button", name="Change password"))
    await expect(page.get_by_role("status")).to_contain_text("Your password was changed.")
    notice = await steps.read_message(page.context, email, "Your password was reset")
    assert "/not-me?token=" in notice

    # The old password is gone; the new one signs in, from a device the reset forgot.
    await page.get_by_role("link", name="Sign in").click()
    await steps.submit_sign_in(page, email, steps.PASSWORD)
    await expect(steps.alert(page)).to_be_visible()
    await steps.submit_sign_in(page, email, NEW_PASSWORD)
    await other_ways(page).get_by_role("link", name="A recovery code").click()
    await page.get_by_label("Recovery code").fill(codes[0])
    await steps.submit(page, page.get_by_role("button", name="Continue"))
    await expect(page.get_by_role("status").filter(
        has_text="This device is new to us.")).to_be_visible()
    device = await newest_code(page.context, email, steps.NEW_DEVICE_CODE)
    await page.get_by_label("Confirmation code").fill(device)
    await steps.submit(page, page.get_by_role("button", name="Confirm and sign in"))
    await expect(page).to_have_url(steps.ACCOUNT_PAGE)
