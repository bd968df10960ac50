"""What a person does in the browser, one step at a time, asserting what they would see."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import BrowserContext, Locator, Page, Response, expect

from tests.browser.conftest import PASSWORD

LOGIN_PAGE = re.compile(r"/login\?flow=[\w-]+(&notice=[\w-]+)?$")
SIGNUP_PAGE = re.compile(r"/signup\?flow=[\w-]+$")
ACCOUNT_PAGE = re.compile(r"/account$")
# The code sits alone on an indented line of the email (the footer holds the port number).
EMAIL_CODE_RE = re.compile(r"^\s+(\d{6})\s*$", re.MULTILINE)
SMS_CODE_RE = re.compile(r"\b(\d{6})\b")


async def submit(page: Page, button: Locator) -> Response:
    """Click a form's button and wait until the page it leads to has loaded.

    Without the wait, two submissions in a row that draw the same error could be checked
    against the page from before the second click.
    """
    async with page.expect_navigation() as navigation:
        await button.click()
    response = await navigation.value
    assert response is not None
    return response


def alert(page: Page) -> Locator:
    """The error announced to assistive technology."""
    return page.get_by_role("alert")


async def open_signup(page: Page) -> None:
    await page.goto("/signup")
    await expect(page).to_have_url(SIGNUP_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Create your account")


async def confirm(page: Page, button: str) -> Response:
    """Answer a destructive action's question page with its (red) button."""
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"\?$"))
    return await submit(page, page.get_by_role("main").get_by_role("button", name=button,
                                                                   exact=True))


async def submit_credentials(page: Page, identifier: str, password: str = PASSWORD,
                             accept_terms: bool = True) -> Response:
    await page.get_by_label("Email or mobile number").fill(identifier)
    await page.get_by_label("Password").fill(password)
    if accept_terms:
        await page.get_by_label("I accept the terms of service").check()
    return await submit(page, page.get_by_role("button", name="Continue"))


SIGN_UP_CODE = "Your Keepgate sign-up code"
NEW_DEVICE_CODE = "New sign-in to your Keepgate account"


async def read_message(context: BrowserContext, destination: str, subject: str) -> str:
    """Open the development outbox in a new tab and return the body of the newest message to
    ``destination``, which must have ``subject`` (SMS messages are headed "SMS")."""
    if "@" in destination:
        destination = destination.lower()  # Keepgate stores and mails to the normalised address
    tab = await context.new_page()
    try:
        await tab.goto("/dev/messages")
        await expect(tab.get_by_role("heading", level=1)).to_have_text("Development outbox")
        message = tab.get_by_role("article").filter(
            has=tab.locator(".to", has_text=re.compile(f"^{re.escape(destination)}$"))).first
        await expect(message.get_by_role("heading")).to_have_text(subject)
        return await message.locator("pre.body").inner_text()
    finally:
        await tab.close()


async def read_code(context: BrowserContext, destination: str, subject: str = SIGN_UP_CODE
                    ) -> str:
    """The code in the newest message to ``destination`` (an email address or a phone number),
    which must have ``subject``."""
    body = await read_message(context, destination, subject)
    match = (SMS_CODE_RE if destination.startswith("+") else EMAIL_CODE_RE).search(body)
    assert match, f"no code in the message to {destination}: {body!r}"
    return match.group(1)


async def enter_code(page: Page, code: str) -> Response:
    await page.get_by_label("Verification code").fill(code)
    return await submit(page, page.get_by_role("button", name="Create account"))


async def sign_up(page: Page, email: str, password: str = PASSWORD) -> None:
    """The whole sign-up: the new customer lands signed in on the account page, then signs
    out, so that the journeys go on as a returning customer would."""
    await open_signup(page)
    await submit_credentials(page, email, password)
    await expect(page.get_by_label("Verification code")).to_be_visible()
    await enter_code(page, await read_code(page.context, email))
    await signed_in_after_sign_up(page)


async def signed_in_after_sign_up(page: Page) -> None:
    await expect(page).to_have_url(ACCOUNT_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    await expect(page.get_by_role("link", name="Verify your identity")).to_be_visible()
    await sign_out(page)


async def submit_sign_in(page: Page, identifier: str, password: str = PASSWORD) -> Response:
    if not LOGIN_PAGE.search(page.url):
        await page.goto("/login")
        await expect(page).to_have_url(LOGIN_PAGE)
    await page.get_by_label("Email or mobile number").fill(identifier)
    await page.get_by_label("Password").fill(password)
    return await submit(page, page.get_by_role("button", name="Sign in", exact=True))


async def sign_in(page: Page, identifier: str, password: str = PASSWORD,
                  new_device: bool = False) -> None:
    """Sign in; a ``new_device`` confirms itself with the code mailed to the owner."""
    await submit_sign_in(page, identifier, password)
    if new_device:
        await expect(page.get_by_role("status")).to_contain_text("This device is new to us.")
        code = await read_code(page.context, identifier, NEW_DEVICE_CODE)
        await page.get_by_label("Confirmation code").fill(code)
        await submit(page, page.get_by_role("button", name="Confirm and sign in"))
    await expect(page).to_have_url(ACCOUNT_PAGE)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Your account")


def account_nav(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Account")


async def sign_out(page: Page) -> None:
    await submit(page, account_nav(page).get_by_role("button", name="Sign out", exact=True))
    await expect(page).to_have_url(re.compile(r"/login\?flow=[\w-]+&notice=signed-out$"))


async def open_sessions(page: Page) -> None:
    await account_nav(page).get_by_role("link", name="Sessions").click()
    await expect(page).to_have_url(re.compile(r"/account/sessions$"))
    await expect(page.get_by_role("heading", level=1)).to_have_text("Active sessions")


def session_items(page: Page) -> Locator:
    return page.locator("ul.sessions > li")


async def screenshot(page: Page, folder: Path, name: str) -> None:
    width = page.viewport_size["width"] if page.viewport_size else 0
    await page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    # Nothing may stick out sideways: a horizontal scrollbar on a phone is a layout bug, on the
    # page or inside a scrolling box (the tiers table once hid half its columns in one).
    overflowing = await page.evaluate(OVERFLOWING_JS)
    assert not overflowing, f"{name} at {width}px scrolls sideways: {overflowing}"


OVERFLOWING_JS = """() => {
  const wider = (el) => el.scrollWidth - el.clientWidth;
  const root = document.documentElement;
  const found = wider(root) > 0 ? [`page by ${wider(root)}px`] : [];
  for (const el of document.body.querySelectorAll("*")) {
    if (["auto", "scroll"].includes(getComputedStyle(el).overflowX) && wider(el) > 0) {
      found.push(`${el.tagName.toLowerCase()}.${el.className} by ${wider(el)}px`);
    }
  }
  return found;
}"""
