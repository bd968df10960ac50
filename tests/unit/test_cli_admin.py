"""``keepgate admin``, run in process through ``keepgate.cli.main`` against a SQLite database."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.engine import make_engine
from keepgate.adapters.sql.store import SqlStore
from keepgate.cli import main
from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.factors import Factor, FactorKind
from keepgate.domain.sessions import AAL, Session, SessionPolicy
from keepgate.security.keyring import KeyRing, UndecryptableSecret
from keepgate.security.tokens import new_id
from keepgate.services.admin import AdminService, ChainReport
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import UnitOfWork

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(100, 132))
ACCOUNT = "2f1c7a52-5f41-4a8e-9d5c-0b1e7c1d2a33"
SEEDS = [f"JBSWY3DPEHPK3PXP{n:04d}AAAAAAAAAAAA" for n in range(5)]


@pytest.fixture
def database(sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh migrated SQLite database, configured as the CLI reads it: from the environment."""
    shutil.copyfile(sqlite_template, tmp_path / "keepgate.db")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'keepgate.db'}"
    monkeypatch.setenv("KEEPGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("KEEPGATE_ENCRYPTION_KEYS", base64.b64encode(OLD_KEY).decode())
    return database_url


def use_keys(monkeypatch: pytest.MonkeyPatch, *keys: bytes) -> None:
    monkeypatch.setenv("KEEPGATE_ENCRYPTION_KEYS",
                       ",".join(base64.b64encode(k).decode() for k in keys))


async def seed(url: str, clock: FrozenClock, *, banned: bool = False, locked: bool = False,
               sessions: int = 0, factors: int = 0) -> list[str]:
    """An account with ``factors`` TOTP factors sealed under OLD_KEY; returns their ids."""
    store = SqlStore(make_engine(url))
    now = clock.now()
    ring = KeyRing([OLD_KEY])
    ids = sorted(new_id() for _ in range(factors))
    async with store.unit_of_work(write=True) as uow:
        await uow.accounts.create(Account(ACCOUNT, "ada@example.com", None, "hash",
                                          AccountStatus.RESTRICTED, 0, now))
        if banned:
            await uow.accounts.ban(ACCOUNT, now + timedelta(hours=1))
        if locked:
            await uow.accounts.lock(ACCOUNT, now)
        for n in range(sessions):
            await uow.sessions.create(Session(
                new_id(), ACCOUNT, f"token-hash-{n}", AAL.AAL1, ("password",), "api", now, now,
                now + timedelta(hours=12), "203.0.113.7", "test"))
        for factor_id, seed_text in zip(ids, SEEDS, strict=False):
            await uow.factors.create(Factor(
                factor_id, ACCOUNT, FactorKind.TOTP, "phone", now, confirmed_at=now,
                secret=ring.encrypt(seed_text.encode(), context=f"totp:{factor_id}")))
        await uow.audit.append(AuditEvent(EventKind.SIGNUP, Outcome.SUCCESS, ACCOUNT), now)
    await store.close()
    return ids


async def stored(url: str, query: sa.Select[tuple[object, ...]]) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(query)]
    await engine.dispose()
    return rows


@pytest.fixture
def out(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys


# --- find -------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["ada@example.com", " ADA@example.com ", ACCOUNT])
def test_find_shows_the_account_without_secrets(database: str, clock: FrozenClock,
                                                out: pytest.CaptureFixture[str],
                                                query: str) -> None:
    asyncio.run(seed(database, clock, banned=True, sessions=2, factors=1))
    assert main(["admin", "find", query], clock=clock) == 0
    shown = out.readouterr().out
    for expected in (ACCOUNT, "ada@example.com", "restricted, KYC tier 0", "totp 1",
                     "banned until", "not locked"):
        assert expected in shown, shown
    assert re.search(r"active sessions\s+2\b", shown)
    assert "JBSWY3DP" not in shown and "v1." not in shown and "hash" not in shown


@pytest.mark.parametrize(("query", "says"), [
    ("nobody@example.com", "no account matches"),
    ("not an identifier", "neither an account id"),
])
def test_find_explains_what_it_could_not_find(database: str, clock: FrozenClock,
                                              out: pytest.CaptureFixture[str],
                                              query: str, says: str) -> None:
    assert main(["admin", "find", query], clock=clock) == 1
    captured = out.readouterr()
    assert says in captured.err and "Traceback" not in captured.err


# --- changes need a reason and are audited ----------------------------------------------------


def test_a_change_without_a_reason_is_refused(database: str, clock: FrozenClock,
                                              out: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["admin", "lift-ban", ACCOUNT], clock=clock)
    assert exit_.value.code == 2
    assert "--reason" in out.readouterr().err
    assert main(["admin", "lift-ban", ACCOUNT, "--reason", "   "], clock=clock) == 1
    assert "needs a reason" in out.readouterr().err


def test_lift_ban_clears_the_ban_and_records_who_and_why(database: str, clock: FrozenClock,
                                                        out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock, banned=True))
    assert main(["admin", "lift-ban", "ada@example.com", "--reason", "ticket 4711",
                 "--operator", "grace"], clock=clock) == 0
    c = t.accounts.c
    assert run_rows(database, sa.select(c.banned_until, c.failed_logins)) == [(None, 0)]
    a = t.audit_events.c
    events = run_rows(database, sa.select(a.actor_kind, a.actor_id, a.actor_reason)
                      .where(a.kind == EventKind.BAN_LIFTED.value))
    assert events == [("staff", "grace", "ticket 4711")]
    out.readouterr()
    assert main(["admin", "lift-ban", ACCOUNT, "--reason", "again"], clock=clock) == 1
    assert "is not banned" in out.readouterr().err


def test_unlock_lifts_the_lock_and_records_who_and_why(database: str, clock: FrozenClock,
                                                       out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock, locked=True))
    assert main(["admin", "unlock", "ada@example.com", "--reason", "ticket 4713",
                 "--operator", "grace"], clock=clock) == 0
    assert "sign-in unlocked" in out.readouterr().out
    assert run_rows(database, sa.select(t.accounts.c.locked_at)) == [(None,)]
    a = t.audit_events.c
    events = run_rows(database, sa.select(a.actor_kind, a.actor_id, a.actor_reason)
                      .where(a.kind == EventKind.UNLOCKED.value))
    assert events == [("staff", "grace", "ticket 4713")]
    assert main(["admin", "unlock", ACCOUNT, "--reason", "again"], clock=clock) == 1
    assert "is not locked" in out.readouterr().err
    with pytest.raises(SystemExit):
        main(["admin", "unlock", ACCOUNT], clock=clock)  # no reason, no change


def test_end_sessions_revokes_every_session(database: str, clock: FrozenClock,
                                            out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock, sessions=3))
    assert main(["admin", "end-sessions", ACCOUNT, "--reason", "phone stolen"],
                clock=clock) == 0
    assert "3 session(s) ended" in out.readouterr().out
    assert run_rows(database, sa.select(t.sessions.c.id)
                    .where(t.sessions.c.revoked_at.is_(None))) == []
    kinds = [k for (k,) in run_rows(database, sa.select(t.audit_events.c.kind))]
    assert kinds[-1] == EventKind.SIGNED_OUT_EVERYWHERE.value


def run_rows(url: str, query: sa.Select[tuple[object, ...]]) -> list[tuple[object, ...]]:
    return asyncio.run(stored(url, query))


# --- audit trail and chain --------------------------------------------------------------------


def test_audit_trail_lists_the_accounts_events_as_plain_text(
        database: str, clock: FrozenClock, out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock))
    main(["admin", "end-sessions", ACCOUNT, "--reason", "[bold red]markup[/]"], clock=clock)
    out.readouterr()
    assert main(["admin", "audit", ACCOUNT], clock=clock) == 0
    shown = out.readouterr().out
    assert "signup" in shown and "session.revoked_all" in shown
    assert f"customer:{ACCOUNT}" in shown  # the sign-up: the customer's own doing
    assert "([bold red]markup[/])" in shown  # the staff actor's reason, printed as typed


def test_verify_audit_passes_an_intact_chain(database: str, clock: FrozenClock,
                                             out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock))
    main(["admin", "end-sessions", ACCOUNT, "--reason", "check"], clock=clock)
    out.readouterr()
    assert main(["admin", "verify-audit"], clock=clock) == 0
    assert "audit log intact: 2 entries verified" in out.readouterr().out


def test_verify_audit_names_the_first_broken_entry(database: str, clock: FrozenClock,
                                                   out: pytest.CaptureFixture[str]) -> None:
    asyncio.run(seed(database, clock))
    for n in range(3):
        main(["admin", "end-sessions", ACCOUNT, "--reason", f"round {n}"], clock=clock)
    asyncio.run(tamper(database, seq=2))
    out.readouterr()
    assert main(["admin", "verify-audit"], clock=clock) == 1
    assert "audit log BROKEN at entry 2" in out.readouterr().out


def test_verify_audit_passes_while_events_are_appended(database: str,
                                                       clock: FrozenClock) -> None:
    """A live system appends while the chain is checked: that is no break."""
    asyncio.run(seed(database, clock))
    for n in range(3):
        main(["admin", "end-sessions", ACCOUNT, "--reason", f"round {n}"], clock=clock)
    assert asyncio.run(verify_while_appending(database, clock)).intact


async def verify_while_appending(url: str, clock: FrozenClock) -> ChainReport:
    store = SqlStore(make_engine(url))

    class Appending:
        """The store, with an event appended after the head is read and between batches."""

        reads = 0

        @asynccontextmanager
        async def unit_of_work(self, *, write: bool) -> AsyncIterator[UnitOfWork]:
            self.reads += 1
            if 1 < self.reads <= 3:
                async with store.unit_of_work(write=True) as uow:
                    await uow.audit.append(AuditEvent(
                        EventKind.LOGIN, Outcome.SUCCESS, ACCOUNT), clock.now())
            async with store.unit_of_work(write=write) as uow:
                yield uow

    admin = AdminService(store=Appending(), clock=clock, keyring=KeyRing([OLD_KEY]),
                         session_policy=SessionPolicy())
    try:
        return await admin.verify_audit_chain(lambda _: None, batch=1)
    finally:
        await store.engine.dispose()


async def tamper(url: str, *, seq: int) -> None:
    """Rewrite one entry behind the append-only triggers' back, as an intruder with the
    database's owner rights could."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        triggers = [name for (name,) in await conn.execute(sa.text(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"))]
        for name in triggers:
            await conn.execute(sa.text(f'DROP TRIGGER "{name}"'))
        await conn.execute(sa.update(t.audit_events).where(t.audit_events.c.seq == seq)
                           .values(ip="198.51.100.1"))
    await engine.dispose()


# --- re-encryption ----------------------------------------------------------------------------


def secrets_of(url: str) -> dict[str, str]:
    return {str(i): str(s) for i, s in run_rows(url, sa.select(t.factors.c.id,
                                                               t.factors.c.secret))}


def test_reencrypt_interrupted_then_run_again_leaves_every_secret_under_the_new_key(
        database: str, clock: FrozenClock, out: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ids = asyncio.run(seed(database, clock, factors=5))
    use_keys(monkeypatch, NEW_KEY, OLD_KEY)
    interrupt_after_batches(monkeypatch, 1)
    assert main(["admin", "reencrypt-secrets", "--reason", "rotation"], clock=clock) == 130
    assert "running the command again carries on" in out.readouterr().err
    halfway = secrets_of(database)
    assert sum(KeyRing([NEW_KEY]).needs_reencryption(s) for s in halfway.values()) == 3

    monkeypatch.undo()
    monkeypatch.setenv("KEEPGATE_DATABASE_URL", database)
    use_keys(monkeypatch, NEW_KEY, OLD_KEY)
    assert main(["admin", "reencrypt-secrets", "--reason", "rotation"], clock=clock) == 0
    assert "3 of 5 secrets re-encrypted" in out.readouterr().out

    final = secrets_of(database)
    only_new, only_old = KeyRing([NEW_KEY]), KeyRing([OLD_KEY])
    for factor_id, seed_text in zip(ids, SEEDS, strict=True):
        context = f"totp:{factor_id}"
        assert only_new.decrypt(final[factor_id], context=context) == seed_text.encode()
        with pytest.raises(UndecryptableSecret):
            only_old.decrypt(final[factor_id], context=context)
    assert main(["admin", "reencrypt-secrets", "--reason", "rotation"], clock=clock) == 0
    assert "0 of 5 secrets re-encrypted" in out.readouterr().out  # idempotent
    assert secrets_of(database) == final
    assert main(["admin", "verify-audit"], clock=clock) == 0


def interrupt_after_batches(monkeypatch: pytest.MonkeyPatch, batches: int) -> None:
    """Batches of two, and Ctrl-C as the progress bar reports the ``batches``-th one."""
    from keepgate.services.admin import AdminService

    original = AdminService.reencrypt_secrets
    seen = 0

    def interrupting(done: int) -> None:
        nonlocal seen
        seen += 1
        if seen >= batches:
            raise KeyboardInterrupt

    async def small_batches(self: AdminService, operator: object, progress: object, *,
                            batch: int = 100) -> object:
        return await original(self, operator, interrupting, batch=2)  # type: ignore[arg-type]

    monkeypatch.setattr(AdminService, "reencrypt_secrets", small_batches)


def test_reencrypt_reports_secrets_no_key_can_open(database: str, clock: FrozenClock,
                                                   out: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(seed(database, clock, factors=2))
    use_keys(monkeypatch, NEW_KEY)  # the old key was dropped too early
    assert main(["admin", "reencrypt-secrets", "--reason", "rotation"], clock=clock) == 1
    assert "decrypt under no configured key" in out.readouterr().out
