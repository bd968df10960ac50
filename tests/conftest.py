"""Shared fixtures: a frozen clock, a migrated database per test, the app and a client."""

from __future__ import annotations

import dataclasses
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.tables import metadata
from keepgate.cli import migrate
from keepgate.config import Settings
from keepgate.domain.identifiers import parse_identifier
from keepgate.security.passwords import HashParams
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate, build
from tests import backends

# Argon2 at its cheapest: tests exercise the logic, bench/ measures the real parameters.
TEST_HASH = HashParams(memory_kib=8, time_cost=1, parallelism=1)
PASSWORD = "correct horse battery staple orbit"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for backend in ("postgres", "redis", "browser"):
            if item.get_closest_marker(backend) is None and f"[{backend}]" in item.nodeid:
                item.add_marker(getattr(pytest.mark, backend))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly which suites did not run, so a green run never hides a missing server."""
    if backends.SKIPPED:
        terminalreporter.section("suites not run")
        for backend, problem in sorted(backends.SKIPPED.items()):
            terminalreporter.write_line(f"{backend}: SKIPPED - {problem}")
    elif backends.REQUIRED:
        terminalreporter.write_line(
            f"required suites ran: {', '.join(sorted(backends.REQUIRED))}")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


def base_settings(database_url: str, **overrides: Any) -> Settings:
    return dataclasses.replace(
        Settings(), database_url=database_url, hash_params=TEST_HASH, run_outbox_worker=False,
        public_url="http://localhost", secret_key=Settings().secret_key,
        captcha_max_number=50,  # proof of work a test can solve in milliseconds
        **overrides)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (a fresh database in a millisecond)."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    migrate(base_settings(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, migrated once, dropped at the end."""
    backends.need("postgres")
    import asyncpg

    name = f"keepgate_test_{secrets.token_hex(4)}"
    admin = backends.POSTGRES_URL.replace("+asyncpg", "")

    async def admin_sql(statement: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    backends.run_coroutine(lambda: admin_sql(f'CREATE DATABASE "{name}"'))
    url = re.sub(r"/[^/]*$", f"/{name}", backends.POSTGRES_URL)
    try:
        migrate(base_settings(url))
        yield url
    finally:
        backends.run_coroutine(lambda: admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(t.name for t in metadata.sorted_tables if t.name != "audit_head")
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await conn.execute(sa.text(
            "UPDATE audit_head SET seq = 0, last_hash = :zero WHERE id = 1"), {"zero": "0" * 64})
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "keepgate.db"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = str(request.getfixturevalue("postgres_database"))
    await reset_postgres(url)
    return url


@pytest.fixture
def settings(database_url: str) -> Settings:
    return base_settings(database_url)


@pytest.fixture
async def kg(settings: Settings, clock: FrozenClock) -> AsyncIterator[Keepgate]:
    keepgate = build(settings, clock=clock)
    yield keepgate
    await keepgate.close()


@pytest.fixture
async def client(settings: Settings, kg: Keepgate) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, keepgate=kg)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                 headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) "
                                          "AppleWebKit/537.36 (KHTML, like Gecko) "
                                          "Chrome/120.0 Safari/537.36"}) as http:
        yield http


@asynccontextmanager
async def serve(settings: Settings, clock: FrozenClock,
                **transport: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Keepgate]]:
    """A Keepgate built from other ``settings`` than the fixture's, and a client for it
    (``transport`` goes to ``httpx.ASGITransport``); closed after the block."""
    keepgate = build(settings, clock=clock)
    try:
        app = httpx.ASGITransport(app=create_app(settings, keepgate=keepgate), **transport)
        async with httpx.AsyncClient(transport=app, base_url="http://localhost") as http:
            yield http, keepgate
    finally:
        await keepgate.close()


async def recent_messages(kg: Keepgate, limit: int = 100) -> list[Any]:
    """The newest ``limit`` messages in the outbox, newest first."""
    async with kg.store.unit_of_work(write=False) as uow:
        return list(await uow.outbox.recent(limit))


CODE_RE = re.compile(r"\b(\d{6})\b")


async def last_message(kg: Keepgate, destination: str) -> Any:
    for message in await recent_messages(kg, 200):
        if message.destination == destination:
            return message
    raise AssertionError(f"no message to {destination}")


async def last_code(kg: Keepgate, destination: str) -> str:
    message = await last_message(kg, destination)
    match = CODE_RE.search(message.body)
    assert match, f"no code in the last message to {destination}: {message.template}"
    return match.group(1)


# identifier -> the trusted-device token its registration gave this test's "phone"
DEVICES: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _forget_devices() -> Iterator[None]:
    DEVICES.clear()
    yield
    DEVICES.clear()


async def register(client: httpx.AsyncClient, kg: Keepgate, identifier: str,
                   password: str = PASSWORD) -> dict[str, Any]:
    """Sign up over the API and return the completed flow (its device is now trusted)."""
    flow = (await client.post("/api/v1/flows/registration")).json()
    response = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": identifier, "password": password,
        "accept_terms": True})
    assert response.status_code == 200, response.text
    destination = parse_identifier(identifier).value
    code = await last_code(kg, destination)
    response = await client.post(f"/api/v1/flows/{flow['id']}", json={"method": "code",
                                                                      "code": code})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "completed"
    DEVICES[destination] = response.json()["device_token"]
    return dict(response.json())


async def sign_in(client: httpx.AsyncClient, identifier: str, password: str = PASSWORD,
                  user_agent: str | None = None, trusted: bool = True) -> str:
    """Sign in over the API from the registering (trusted) device; return the bearer token."""
    headers = {"User-Agent": user_agent} if user_agent else {}
    device = DEVICES.get(parse_identifier(identifier).value)
    if trusted and device:
        headers["X-Keepgate-Device"] = device
    flow = (await client.post("/api/v1/flows/login", headers=headers)).json()
    response = await client.post(f"/api/v1/flows/{flow['id']}", headers=headers, json={
        "method": "password", "identifier": identifier, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["session"]["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}



def error_apart_from_reference(response: httpx.Response) -> dict[str, Any]:
    """The error body without its per-request ``reference`` (checked against the header), to
    compare two answers that must be the same."""
    error = dict(response.json()["error"])
    assert error.pop("reference") == response.headers["X-Request-Id"]
    return error
