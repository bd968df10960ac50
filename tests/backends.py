"""Which real servers the suite can reach, and what to do when one is missing.

Suites that need PostgreSQL, Redis or Chromium skip with a clear reason on a machine without
them. ``KEEPGATE_TEST_REQUIRE=postgres,redis,browser`` (set by CI) turns those skips into
failures, so a green CI run always means every suite really ran.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get("KEEPGATE_TEST_POSTGRES_URL",
                              "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KEEPGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CHROMIUM = os.environ.get("KEEPGATE_TEST_CHROMIUM", "/usr/bin/chromium")
T = TypeVar("T")
REQUIRED = {s.strip() for s in os.environ.get("KEEPGATE_TEST_REQUIRE", "").split(",") if s.strip()}


def run_coroutine(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


def _port_open(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port),
                                      timeout=1.0):
            return True
    except OSError:
        return False


@cache
def postgres_problem() -> str | None:
    if not _port_open(POSTGRES_URL, 5432):
        return f"PostgreSQL is not reachable at {POSTGRES_URL}"

    async def probe() -> None:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_URL.replace("+asyncpg", ""), timeout=3)
        await conn.close()

    try:
        run_coroutine(probe)
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} refused the connection: {exc}"
    return None


@cache
def redis_problem() -> str | None:
    if not _port_open(REDIS_URL, 6379):
        return f"Redis is not reachable at {REDIS_URL}"
    return None


@cache
def browser_problem() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed"
    return None


SKIPPED: dict[str, str] = {}  # backend -> why its suite did not run, for the summary

PROBLEMS = {"postgres": postgres_problem, "redis": redis_problem, "browser": browser_problem}


def need(backend: str) -> None:
    """Skip (or, when CI requires the backend, fail) unless ``backend`` is available."""
    problem = PROBLEMS[backend]()
    if problem is None:
        return
    SKIPPED.setdefault(backend, problem)
    if backend in REQUIRED:
        pytest.fail(f"{backend} suite required by KEEPGATE_TEST_REQUIRE but unavailable: "
                    f"{problem}", pytrace=False)
    pytest.skip(f"{backend} suite skipped: {problem}")
