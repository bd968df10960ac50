"""What every browser test stands on: an ASGI app served by uvicorn in a thread, and Chromium.

The server runs in a background thread with its own event loop on a socket the caller bound
(the caller often needs the port before it can build the app); the test drives Chromium from
the test's loop.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, Literal

import pytest
import uvicorn

from tests import backends

if TYPE_CHECKING:
    from playwright.async_api import Browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STARTUP_POLLS = 1000  # x 10 ms: the server gets ten seconds to come up


def loopback_socket() -> socket.socket:
    """A TCP socket bound to a free port on 127.0.0.1, for uvicorn to serve on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
    except BaseException:
        sock.close()
        raise
    return sock


@contextmanager
def serving(app: Any, sock: socket.socket, lifespan: Literal["on", "off"]) -> Iterator[None]:
    """Uvicorn serving ``app`` on ``sock`` in a thread for the duration of the block."""
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, ws="none", http="h11",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]},
                              name=f"uvicorn-{port}", daemon=True)
    thread.start()
    started = threading.Event()
    for _ in range(STARTUP_POLLS):
        if server.started or not thread.is_alive():
            break
        started.wait(0.01)  # a bounded poll for the thread, not a timing assumption in a test
    try:
        if not server.started:
            pytest.fail(f"uvicorn did not start on port {port}", pytrace=False)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not stop"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, closed after the block."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=backends.CHROMIUM,
                                                   args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
