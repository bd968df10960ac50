"""The vendored ALTCHA widget in Debian's Chromium, under Keepgate's real security headers.

A throwaway Starlette site (loopback only) renders ``_captcha.html`` with a challenge from
``CaptchaIssuer``, serves ``keepgate/web/static`` and wraps everything in the app's own
``SecurityHeaders`` middleware, so the page carries exactly the production CSP. The widget must
solve the challenge in the browser and the server must accept what the form submits. Any
console error or ``securitypolicyviolation`` event (how Chromium reports a blocked inline style,
inline script, blob: worker or eval) fails the test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

import keepgate.web
from keepgate.adapters.replay import MemoryReplayGuard
from keepgate.security.captcha import CaptchaIssuer
from keepgate.security.errors import InvalidCaptcha
from keepgate.web.middleware import CSP, SecurityHeaders
from tests import backends
from tests.browser import harness

if TYPE_CHECKING:
    from playwright.async_api import Browser, ConsoleMessage, Page
    from playwright.async_api import Response as PlaywrightResponse

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

WEB = Path(keepgate.web.__file__).resolve().parent
BINDING = "login:browser-test-flow"
MAX_NUMBER = 5_000
PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Captcha check</title></head>
<body>
<form method="post" action="/submit">
  {% from "_captcha.html" import captcha_widget with context %}
  {{ captcha_widget(challenge, auto=auto) }}
  <button type="submit">Continue</button>
</form>
</body>
</html>
"""
# Registered before any page script runs (through DevTools, so the CSP does not apply to it).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} blocked ${e.blockedURI || "inline"}`
                              + ` (${e.sourceFile || "?"}:${e.lineNumber})`);
});
"""
# A function, not an expression: Playwright evaluates expression strings with eval(), which the
# page's CSP (rightly) forbids.
STATE_IS = "() => document.querySelector('altcha-widget')?.getState?.() === '{}'"


@dataclass
class Site:
    url: str
    issuer: CaptchaIssuer
    outcomes: list[str] = field(default_factory=list)  # what the server said to each submit
    html_patch: tuple[str, str] | None = None  # (old, new) applied to the rendered page


def make_app(site: Site) -> Any:
    templates = Jinja2Templates(directory=str(WEB / "templates"))
    guard = MemoryReplayGuard(lambda: datetime.now(UTC))

    async def page(request: Request) -> Response:
        challenge = site.issuer.challenge(binding=BINDING, now=datetime.now(UTC))
        html = templates.env.from_string(PAGE).render(
            request=request, challenge=challenge, auto=request.query_params.get("auto", "onload"))
        if site.html_patch:
            html = html.replace(*site.html_patch)
        return HTMLResponse(html)

    async def submit(request: Request) -> Response:
        form = await request.form()
        payload = form.get("captcha")
        try:
            if not isinstance(payload, str):
                raise InvalidCaptcha("no captcha field")
            key = site.issuer.verify(payload, binding=BINDING, now=datetime.now(UTC))
            outcome = ("verified" if await guard.first_use(key, site.issuer.replay_ttl_seconds)
                       else "replayed")
        except InvalidCaptcha as exc:
            outcome = f"refused: {exc}"
        site.outcomes.append(outcome)
        return PlainTextResponse(outcome)

    app = Starlette(routes=[
        Route("/", page),
        Route("/submit", submit, methods=["POST"]),
        Route("/favicon.ico", lambda request: Response(status_code=204)),
        Mount("/static", StaticFiles(directory=WEB / "static"), name="static"),
    ])
    return SecurityHeaders(app, hsts=False)


@pytest.fixture
def site() -> Iterator[Site]:
    backends.need("browser")
    with harness.loopback_socket() as sock:
        site = Site(url=f"http://127.0.0.1:{sock.getsockname()[1]}",
                    issuer=CaptchaIssuer(b"browser-test-key-0123456789abcdef",
                                         max_number=MAX_NUMBER, lifetime=timedelta(minutes=5)))
        with harness.serving(make_app(site), sock, lifespan="off"):
            yield site


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    async with harness.chromium() as browser:
        yield browser


@dataclass
class Console:
    page: Page
    errors: list[str]

    async def violations(self) -> list[str]:
        return list(await self.page.evaluate("window.__cspViolations"))


@pytest.fixture
async def console(chromium: Browser, site: Site) -> AsyncIterator[Console]:
    context = await chromium.new_context(base_url=site.url)
    context.set_default_timeout(30_000)
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            errors.append(f"console {message.type}: {message.text}")

    def on_response(response: PlaywrightResponse) -> None:
        if response.status >= 400:
            errors.append(f"HTTP {response.status} for {response.url}")

    context.on("console", on_console)
    context.on("weberror", lambda error: errors.append(f"page error: {error.error}"))
    context.on("response", on_response)
    await context.add_init_script(RECORD_VIOLATIONS)
    page = await context.new_page()
    try:
        yield Console(page, errors)
    finally:
        await context.close()


async def solved_payload(page: Page) -> str:
    await page.wait_for_function(STATE_IS.format("verified"), timeout=60_000)
    payload = await page.locator("input[name=captcha]").input_value()
    assert payload, "the widget is verified but its hidden field is empty"
    return payload


async def test_widget_solves_on_load_under_the_csp_and_the_server_accepts_it(
        site: Site, console: Console) -> None:
    page = console.page
    response = await page.goto("/")
    assert response is not None and response.headers["content-security-policy"] == CSP
    payload = await solved_payload(page)

    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/submit")
    assert (await page.locator("body").inner_text()).strip() == "verified"
    assert site.outcomes == ["verified"]

    # The same answer a second time is a replay, even though it still verifies.
    replay = await page.request.post("/submit", form={"captcha": payload})
    assert await replay.text() == "replayed"
    assert await console.violations() == []
    assert console.errors == []


async def test_widget_solves_when_the_checkbox_is_clicked(site: Site, console: Console) -> None:
    page = console.page
    await page.goto("/?auto=off")
    widget = page.locator("altcha-widget")
    await page.wait_for_function(STATE_IS.format("unverified"))
    # Styled by the external stylesheet, not by an injected <style>: the CSS custom property
    # the widget's stylesheet defines on :root is present.
    radius = await page.evaluate("getComputedStyle(document.documentElement)"
                                 ".getPropertyValue('--altcha-border-radius')")
    assert radius.strip() == "6px"
    assert await page.locator("style").count() == 0

    # What a person clicks: the label (the styled box is an SVG drawn over the real checkbox).
    await widget.get_by_text("I'm not a robot").click()
    await solved_payload(page)
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/submit")
    assert site.outcomes == ["verified"]
    assert await console.violations() == []
    assert console.errors == []


async def test_a_tampered_bundle_is_refused_by_subresource_integrity(
        site: Site, console: Console) -> None:
    """The bundle arrives through a modulepreload carrying its hash; a mismatch stops it."""
    site.html_patch = ('integrity="sha384-qR2s', 'integrity="sha384-XX2s')
    page = console.page
    await page.goto("/")
    await page.wait_for_load_state("load")
    assert await page.evaluate("customElements.get('altcha-widget') === undefined")
    assert any("integrity" in error for error in console.errors), console.errors
