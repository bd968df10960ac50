"""Accessibility in Chromium: axe-core finds nothing serious or critical on any page, signed
out and signed in, at desktop and phone sizes, in the light and dark themes; names contain
what buttons show; focus goes to the error summary after a refused form.

axe-core is the pinned release ``scripts/vendor_axe.py`` fetches and checks (.ci/run runs it).
It is injected into each page, which needs a context that bypasses the CSP: only here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import pytest
from playwright.async_api import Page, expect

from tests import backends
from tests.browser import steps
from tests.browser.conftest import DESKTOP, MOBILE, NewContext
from tests.browser.test_factor_journeys import enrol_totp, open_security

pytestmark = [pytest.mark.anyio, pytest.mark.browser]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SERIOUS = ("serious", "critical")
SIGNED_OUT = ("/login", "/signup", "/recover", "/terms", "/not-me?token=x", "/undo-contact?token=x",
              "/dev/messages", "/no-such-page")
SIGNED_IN = ("/account", "/account/verify", "/account/security",
             "/account/security/setup?method=totp", "/account/security/setup?method=webauthn",
             "/account/security/setup?method=sms_code",
             "/account/security/setup?method=email_code",
             "/account/security/history", "/account/security/devices", "/account/sessions",
             "/account/step-up?next=/account/security",
             "/account/sessions/revoke-others", "/account/sign-out-everywhere",
             "/account/security/not-me")


def axe_source() -> str:
    if not AXE.exists():
        problem = "axe-core is not fetched: run python3 scripts/vendor_axe.py"
        if "browser" in backends.REQUIRED:
            pytest.fail(problem, pytrace=False)
        pytest.skip(problem)
    return AXE.read_text()


async def serious_findings(page: Page, axe: str) -> list[str]:
    await page.add_script_tag(content=axe)
    found: list[str] = await page.evaluate(
        """async (serious) => {
             const result = await axe.run(document, {resultTypes: ["violations"]});
             return result.violations.filter((v) => serious.includes(v.impact)).map(
               (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" "))
                                                 .join(", ")}`);
           }""", list(SERIOUS))
    return found


async def audit(page: Page, axe: str, paths: tuple[str, ...]) -> list[str]:
    problems = []
    for path in paths:
        await page.goto(path)
        problems += [f"{path} at {page.viewport_size}: {finding}"
                     for finding in await serious_findings(page, axe)]
    return problems


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, MOBILE], ids=["desktop", "phone"])
async def test_no_serious_axe_findings_on_any_page(new_context: NewContext,
                                                   viewport: dict[str, int],
                                                   scheme: Literal["light", "dark"]) -> None:
    """In both themes: the system's dark preference draws every page dark."""
    axe = axe_source()
    context = await new_context(viewport=viewport, bypass_csp=True, color_scheme=scheme)
    page = await context.new_page()
    problems = await audit(page, axe, SIGNED_OUT)
    email = "axe@example.org"
    await steps.open_signup(page)
    await steps.submit_credentials(page, email)  # the code step of the sign-up
    await expect(page.get_by_label("Verification code")).to_be_visible()
    problems += [f"sign-up code step: {f}" for f in await serious_findings(page, axe)]
    await steps.enter_code(page, await steps.read_code(page.context, email))
    await steps.signed_in_after_sign_up(page)
    await steps.sign_in(page, email)
    await open_security(page)
    await page.get_by_role("link", name="Add an authenticator app").click()
    await expect(page.get_by_role("link", name="Open in authenticator app")).to_be_visible()
    await page.goto("/account")
    await enrol_totp(page)  # then the step-up page has a factor to offer
    problems += await audit(page, axe, SIGNED_IN)
    await page.goto("/account")
    await steps.sign_out(page)
    await steps.submit_sign_in(page, email)  # the second-factor step of the sign-in
    problems += [f"second factor step: {f}" for f in await serious_findings(page, axe)]
    assert not problems, "\n".join(problems)


async def test_forget_button_names_contain_their_text(page: Page) -> None:
    await steps.sign_up(page, "forget@example.org")
    await steps.sign_in(page, "forget@example.org")
    await page.goto("/account/security/devices")
    forget = page.get_by_role("button", name=re.compile(r"^Forget this device"))
    await expect(forget).to_have_count(1)
    await expect(forget).to_have_text("Forget this device")


async def test_focus_moves_to_the_error_summary_after_a_refused_form(page: Page) -> None:
    await steps.sign_up(page, "focus@example.org")
    response = await steps.submit_sign_in(page, "focus@example.org", "not the password at all")
    assert response.status == 401
    await expect(steps.alert(page)).to_be_focused()
