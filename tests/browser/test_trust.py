"""The theme switch and the destructive actions' questions, in Chromium under the real CSP:
the switch works without script and persists; the dark theme follows the system; a red
button only asks, and nothing happens until the question is answered."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser import steps
from tests.browser.conftest import NewContext

pytestmark = [pytest.mark.anyio, pytest.mark.browser]
DARK_BACKGROUND = "rgb(15, 20, 28)"  # --bg in the dark theme
LIGHT_BACKGROUND = "rgb(244, 246, 250)"


async def background(page: Page) -> str:
    colour: str = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    return colour


async def test_the_theme_follows_the_system_and_the_switch_overrides_it(
        new_context: NewContext) -> None:
    context = await new_context(color_scheme="dark")
    page = await context.new_page()
    await page.goto("/login")
    assert await background(page) == DARK_BACKGROUND  # the system's preference
    switch = page.get_by_role("contentinfo")
    await steps.submit(page, switch.get_by_role("button", name="Light"))
    await expect(page).to_have_url(re.compile(r"/login\?flow="))  # back where it was
    await expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert await background(page) == LIGHT_BACKGROUND
    await expect(switch.get_by_role("button", name="Light")).to_have_attribute(
        "aria-pressed", "true")
    await page.goto("/signup")  # the cookie keeps the choice
    assert await background(page) == LIGHT_BACKGROUND
    await steps.submit(page, switch.get_by_role("button", name="Same as my device"))
    await expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
    assert await background(page) == DARK_BACKGROUND


async def test_the_brand_stylesheet_draws_the_buttons(page: Page) -> None:
    await page.goto("/login")
    button = page.get_by_role("button", name="Sign in", exact=True)
    colour = await button.evaluate("(b) => getComputedStyle(b).backgroundColor")
    assert colour == "rgb(31, 95, 191)"  # the default brand colour, from /brand.css


async def test_a_destructive_action_asks_first(page: Page) -> None:
    await steps.sign_up(page, "careful@example.org")
    await steps.sign_in(page, "careful@example.org")
    await page.goto("/account/security/devices")
    await expect(steps.session_items(page)).to_have_count(1)
    forget = page.get_by_role("button", name=re.compile(r"^Forget this device"))
    await steps.submit(page, forget)
    await expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Forget .*\?$"))
    await page.get_by_role("link", name="Cancel").click()
    await expect(page).to_have_url(re.compile(r"/account/security/devices$"))
    await expect(steps.session_items(page)).to_have_count(1)  # asking forgot nothing
    await steps.submit(page, forget)
    await steps.confirm(page, "Forget this device")
    await expect(page.get_by_role("status")).to_contain_text("The device was forgotten")
    await expect(page.get_by_text("No trusted devices.")).to_be_visible()
