"""The show-password toggle on every password field, in Chromium under the real CSP: a real
button, pressed state and label that follow the field, usable from the keyboard."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.anyio, pytest.mark.browser]


async def check_toggle(page: Page, field_label: str) -> None:
    field = page.get_by_label(field_label, exact=True)
    toggle = page.locator(f"button[aria-controls='{await field.get_attribute('id')}']")
    await expect(field).to_have_attribute("type", "password")
    await expect(toggle).to_be_visible()
    await expect(toggle).to_have_text("Show password")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(toggle).to_have_attribute("type", "button")  # never submits the form
    await field.fill(PASSWORD)
    await toggle.click()
    await expect(field).to_have_attribute("type", "text")
    await expect(field).to_have_value(PASSWORD)
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(toggle).to_have_text("Hide password")
    await toggle.focus()
    await page.keyboard.press("Space")
    await expect(field).to_have_attribute("type", "password")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await page.keyboard.press("Enter")
    await expect(field).to_have_attribute("type", "text")
    await expect(field).to_have_value(PASSWORD)


async def test_sign_up_and_sign_in_passwords_can_be_shown(page: Page) -> None:
    await steps.open_signup(page)
    await check_toggle(page, "Password")
    await page.goto("/login")
    await check_toggle(page, "Password")


async def test_every_password_field_has_its_toggle(page: Page) -> None:
    await steps.sign_up(page, "reveal@example.com")
    await steps.sign_in(page, "reveal@example.com")
    await page.goto("/account/security")
    fields = page.locator("input[type=password]")
    await expect(fields).to_have_count(2)
    await check_toggle(page, "Current password")
    await check_toggle(page, "New password")


async def test_a_shown_password_is_hidden_again_when_the_form_is_sent(page: Page) -> None:
    """So the browser's password manager and history see a password field."""
    await steps.open_signup(page)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.locator("button[aria-controls='password']").click()
    await page.evaluate("""() => {
        const field = document.getElementById("password");
        field.form.addEventListener("submit", (event) => {
            window.typeWhenSent = field.type;
            event.preventDefault();
        });
    }""")
    await page.get_by_role("button", name="Continue").click()
    assert await page.evaluate("() => window.typeWhenSent") == "password"
