"""Sessions: looked up by the hash of their token, never by the token itself.

``with_account`` reads a session and its account in one joined query, because every
authenticated request asks for both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.accounts import account_from_row
from keepgate.domain.accounts import Account
from keepgate.domain.sessions import AAL, Session

ACCOUNT_PREFIX = "acct__"


class _Prefixed:
    """Attribute access to the ``acct__``-labelled columns of a joined row."""

    def __init__(self, mapping: Any, prefix: str) -> None:
        self._mapping = mapping
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        return self._mapping[f"{self._prefix}{name}"]


def _session(row: Any) -> Session:
    return Session(id=row.id, account_id=row.account_id, token_hash=row.token_hash,
                   aal=AAL(row.aal), methods=tuple(row.methods), channel=row.channel,
                   created_at=row.created_at, last_seen_at=row.last_seen_at,
                   expires_at=row.expires_at, ip=row.ip, user_agent=row.user_agent,
                   revoked_at=row.revoked_at, second_factor_at=row.second_factor_at,
                   strong_factor_at=row.strong_factor_at)


_s = t.sessions.c
_CREATE = t.sessions.insert()
_WITH_ACCOUNT = (sa.select(t.sessions, *(c.label(f"{ACCOUNT_PREFIX}{c.name}")
                                         for c in t.accounts.c))
                 .join(t.accounts, t.accounts.c.id == _s.account_id)
                 .where(_s.token_hash == sa.bindparam("b_token_hash")))
_ACTIVE = (sa.select(t.sessions)
           .where(_s.account_id == sa.bindparam("b_account_id"), _s.revoked_at.is_(None),
                  _s.expires_at > sa.bindparam("b_now"),
                  _s.last_seen_at > sa.bindparam("b_seen_since"))
           .order_by(_s.created_at, _s.id))
_TOUCH = sa.update(t.sessions).where(_s.id == sa.bindparam("b_id"))
_REVOKE = sa.update(t.sessions).where(_s.id == sa.bindparam("b_id"), _s.revoked_at.is_(None))


class SqlSessions:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    async def create(self, session: Session) -> None:
        await self._c.execute(_CREATE, dict(
            id=session.id, account_id=session.account_id, token_hash=session.token_hash,
            aal=session.aal.value, methods=list(session.methods), channel=session.channel,
            created_at=session.created_at, last_seen_at=session.last_seen_at,
            expires_at=session.expires_at, ip=session.ip[:64],
            user_agent=session.user_agent[:512], revoked_at=None,
            second_factor_at=session.second_factor_at,
            strong_factor_at=session.strong_factor_at))

    async def with_account(self, token_hash: str) -> tuple[Session, Account] | None:
        """The session and its account in one query: every authenticated request asks."""
        row = (await self._c.execute(_WITH_ACCOUNT, {"b_token_hash": token_hash})).first()
        if row is None:
            return None
        return _session(row), account_from_row(_Prefixed(row._mapping, ACCOUNT_PREFIX))

    async def get(self, session_id: str) -> Session | None:
        row = (await self._c.execute(
            sa.select(t.sessions).where(t.sessions.c.id == session_id))).first()
        return _session(row) if row else None

    async def list_for_account(self, account_id: str) -> Sequence[Session]:
        rows = await self._c.execute(sa.select(t.sessions).where(
            t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)))
        return [_session(r) for r in rows]

    async def active_for_account(self, account_id: str, *, now: datetime,
                                 seen_since: datetime) -> Sequence[Session]:
        """Sessions neither revoked, nor past their absolute limit, nor idle since before
        ``seen_since``; the oldest first."""
        rows = await self._c.execute(_ACTIVE, {"b_account_id": account_id, "b_now": now,
                                               "b_seen_since": seen_since})
        return [_session(r) for r in rows]

    async def elevate(self, session_id: str, *, token_hash: str, aal: str,
                      methods: Sequence[str], now: datetime, strong: bool) -> None:
        """A second factor proven: new token (the old one stops working), higher level; a
        strong factor (``strong``) stamps its own time too."""
        stamps = {"second_factor_at": now, **({"strong_factor_at": now} if strong else {})}
        await self._c.execute(sa.update(t.sessions).where(t.sessions.c.id == session_id).values(
            token_hash=token_hash, aal=aal, methods=list(methods), last_seen_at=now, **stamps))

    async def touch(self, session_id: str, now: datetime) -> None:
        await self._c.execute(_TOUCH, {"b_id": session_id, "last_seen_at": now})

    async def revoke(self, session_id: str, now: datetime) -> bool:
        result = await self._c.execute(_REVOKE, {"b_id": session_id, "revoked_at": now})
        return bool(result.rowcount)

    async def revoke_all(self, account_id: str, now: datetime, *, keep: str | None) -> int:
        condition = [t.sessions.c.account_id == account_id, t.sessions.c.revoked_at.is_(None)]
        if keep is not None:
            condition.append(t.sessions.c.id != keep)
        result = await self._c.execute(sa.update(t.sessions).where(*condition)
                                       .values(revoked_at=now))
        return int(result.rowcount)
