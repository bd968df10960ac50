"""A real Keepgate behind real uvicorn, and Debian's Chromium driven by Playwright.

Each test gets its own server on a free loopback port with a fresh copy of the migrated SQLite
template, so tests never see each other's accounts, sessions or outbox (tests/browser/harness.py
runs it in a thread and launches Chromium).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

from keepgate.web.app import create_app
from tests import backends
from tests.browser import harness
from tests.conftest import PASSWORD, base_settings

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
MOBILE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://localhost:PORT


@pytest.fixture
def live_server(sqlite_template: Path, tmp_path: Path) -> Iterator[LiveServer]:
    """Uvicorn serving create_app() on http://localhost:PORT, stopped after the test."""
    backends.need("browser")
    database = tmp_path / "keepgate.db"
    shutil.copyfile(sqlite_template, database)
    # The settings need the port (public_url), so bind first and hand uvicorn the socket.
    with harness.loopback_socket() as sock:
        url = f"http://localhost:{sock.getsockname()[1]}"
        # base_settings pins public_url to the in-process test client's; this server is real.
        settings = dataclasses.replace(base_settings(f"sqlite+aiosqlite:///{database}"),
                                       public_url=url)
        assert settings.dev_outbox, "the browser suite reads codes from /dev/messages"
        with harness.serving(create_app(settings), sock, lifespan="on"):
            yield LiveServer(url)


@pytest.fixture
async def browser(live_server: LiveServer) -> AsyncIterator[Browser]:
    async with harness.chromium() as chromium:
        yield chromium


NewContext = Callable[..., Awaitable["BrowserContext"]]


@pytest.fixture
async def new_context(browser: Browser, live_server: LiveServer) -> AsyncIterator[NewContext]:
    """Open a browser context (one 'device'); all are closed after the test.

    Every console error fails the test: that is how Chromium reports a Content-Security-Policy
    violation (an inline script or style attribute) or a broken page script. Only the notes
    Chromium logs for an error status (401 for a wrong password, 403 for a refused form) pass.
    """
    contexts: list[BrowserContext] = []
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console error on {message.page.url if message.page else '?'}: "
                            f"{message.text}")

    async def make(viewport: dict[str, int] | None = None, user_agent: str | None = None,
                   bypass_csp: bool = False,
                   color_scheme: Literal["light", "dark"] = "light") -> BrowserContext:
        """``bypass_csp``: only to inject a test tool (axe-core) into the pages;
        ``color_scheme``: the system preference the pages' theme follows."""
        context = await browser.new_context(base_url=live_server.url,
                                            viewport=viewport or DESKTOP,  # type: ignore[arg-type]
                                            user_agent=user_agent, bypass_csp=bypass_csp,
                                            color_scheme=color_scheme)
        context.set_default_timeout(10_000)
        context.on("console", on_console)
        context.on("weberror", lambda error: problems.append(f"page error: {error.error}"))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
async def page(new_context: NewContext) -> Page:
    context = await new_context()
    return await context.new_page()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


__all__ = ["DESKTOP", "MOBILE", "PASSWORD", "LiveServer", "NewContext"]
