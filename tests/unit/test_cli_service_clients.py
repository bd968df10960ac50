"""``keepgate service-client``, run in process through ``keepgate.cli.main`` against SQLite."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.engine import make_engine
from keepgate.cli import main
from keepgate.config import Settings
from keepgate.domain.audit import EventKind
from keepgate.domain.errors import ServiceClientUnauthenticated
from keepgate.domain.principals import ServiceClient
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.wiring import build

SECRET = re.compile(r"^(kgs_[A-Za-z0-9_-]{43})$", re.MULTILINE)
CTX = RequestContext("203.0.113.7", "test")


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    shutil.copyfile(sqlite_template, tmp_path / "keepgate.db")
    url = f"sqlite+aiosqlite:///{tmp_path / 'keepgate.db'}"
    monkeypatch.setenv("KEEPGATE_DATABASE_URL", url)
    return url


def run(clock: FrozenClock, *args: str) -> int:
    return main(["service-client", *args], clock=clock)


def change(clock: FrozenClock, *args: str) -> int:
    return run(clock, *args, "--reason", "ticket 4711", "--operator", "grace")


def secret_in(text: str) -> str:
    found = SECRET.findall(text)
    assert len(found) == 1, text
    return str(found[0])


def authenticate(name: str | None, secret: str) -> ServiceClient:
    """With the settings the CLI used, as the server would."""
    async def go() -> ServiceClient:
        kg = build(Settings.from_env(os.environ))
        try:
            return await kg.service_clients.authenticate(name, secret, CTX, "/api/v1/introspect")
        finally:
            await kg.close()
    return asyncio.run(go())


def rows(url: str, query: sa.Select[tuple[object, ...]]) -> list[tuple[object, ...]]:
    async def go() -> list[tuple[object, ...]]:
        engine = make_engine(url)
        async with engine.connect() as conn:
            found = [tuple(r) for r in await conn.execute(query)]
        await engine.dispose()
        return found
    return asyncio.run(go())


def test_create_shows_the_secret_once_and_stores_only_its_hash(
        database: str, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> None:
    assert change(clock, "create", "trading-engine", "--scopes", "introspect,decide") == 0
    shown = capsys.readouterr().out
    secret = secret_in(shown)
    assert "created with scopes decide, introspect" in shown
    client = authenticate("trading-engine", secret)
    assert client.scopes == frozenset({"introspect", "decide"})
    assert authenticate(None, secret).name == "trading-engine"
    stored = rows(database, sa.select(t.service_clients))
    assert len(stored) == 1 and secret not in str(stored)
    assert run(clock, "list") == 0
    listed = capsys.readouterr().out
    assert "trading-engine  active  decide,introspect  created" in listed and "by grace" in listed
    assert secret not in listed


def test_rotate_replaces_the_secret_at_once(database: str, clock: FrozenClock,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert change(clock, "create", "wallet-service", "--scopes", "limits") == 0
    old = secret_in(capsys.readouterr().out)
    assert change(clock, "rotate", "wallet-service") == 0
    new = secret_in(capsys.readouterr().out)
    assert new != old
    assert authenticate("wallet-service", new).name == "wallet-service"
    with pytest.raises(ServiceClientUnauthenticated):
        authenticate("wallet-service", old)


def test_revoke_refuses_the_client_from_then_on_and_keeps_its_name(
        database: str, clock: FrozenClock, capsys: pytest.CaptureFixture[str]) -> None:
    assert change(clock, "create", "wallet-service", "--scopes", "limits") == 0
    secret = secret_in(capsys.readouterr().out)
    assert change(clock, "revoke", "wallet-service") == 0
    with pytest.raises(ServiceClientUnauthenticated):
        authenticate(None, secret)
    assert change(clock, "revoke", "wallet-service") == 1
    assert "no active service client" in capsys.readouterr().err
    assert change(clock, "rotate", "wallet-service") == 1
    assert change(clock, "create", "wallet-service", "--scopes", "limits") == 1
    assert "never reused" in capsys.readouterr().err
    assert run(clock, "list") == 0
    assert re.search(r"wallet-service  revoked \d{4}-", capsys.readouterr().out)


def test_every_change_is_audited_with_the_operator_and_reason(database: str,
                                                              clock: FrozenClock) -> None:
    assert change(clock, "create", "risk-engine", "--scopes", "decide") == 0
    assert change(clock, "rotate", "risk-engine") == 0
    assert change(clock, "revoke", "risk-engine") == 0
    c = t.audit_events.c
    assert rows(database, sa.select(c.kind, c.actor_kind, c.actor_id, c.actor_reason)
                .order_by(c.seq)) == [
        (kind.value, "staff", "grace", "ticket 4711")
        for kind in (EventKind.SERVICE_CLIENT_CREATED, EventKind.SERVICE_CLIENT_ROTATED,
                     EventKind.SERVICE_CLIENT_REVOKED)]


@pytest.mark.parametrize(("args", "says"), [
    (("create", "Trading Engine", "--scopes", "decide"), "not a service-client name"),
    (("create", "te", "--scopes", "decide"), "not a service-client name"),
    (("create", "trading:engine", "--scopes", "decide"), "not a service-client name"),
    (("create", "trading-engine", "--scopes", "decide,withdraw"), "unknown scope(s) withdraw"),
    (("create", "trading-engine", "--scopes", ","), "at least one scope"),
    (("rotate", "nobody"), "no active service client named 'nobody'"),
    (("revoke", "nobody"), "no active service client named 'nobody'"),
])
def test_refusals_say_why(database: str, clock: FrozenClock,
                          capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                          says: str) -> None:
    assert change(clock, *args) == 1
    captured = capsys.readouterr()
    assert says in captured.err and "Traceback" not in captured.err
    assert not SECRET.search(captured.out)
    assert rows(database, sa.select(t.service_clients)) == []


def test_a_change_needs_a_reason(database: str, clock: FrozenClock,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(clock, "create", "trading-engine", "--scopes", "decide")
    assert exit_.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert run(clock, "revoke", "trading-engine", "--reason", "  ", "--operator", "g") == 1
    assert "needs a reason" in capsys.readouterr().err


def test_list_says_when_there_are_none(database: str, clock: FrozenClock,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(clock, "list") == 0
    assert "no service clients" in capsys.readouterr().out
