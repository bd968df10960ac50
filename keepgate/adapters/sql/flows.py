"""Flows: one row per self-service flow, saved by compare-and-swap on its version.

``context`` and ``messages`` are JSON columns. A save whose stored version moved on raises
``StaleFlow``, so of two concurrent submits of one flow only the first is kept.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keepgate.adapters.sql import tables as t
from keepgate.flows.base import Channel, Feedback, Flow, FlowKind
from keepgate.services.ports import StaleFlow

# Built once (see the package docstring).
_GET = sa.select(t.flows).where(t.flows.c.id == sa.bindparam("b_id"))
_CREATE = t.flows.insert()
_SAVE = sa.update(t.flows).where(t.flows.c.id == sa.bindparam("b_id"),
                                 t.flows.c.version == sa.bindparam("b_version"))


class SqlFlows:
    def __init__(self, conn: AsyncConnection) -> None:
        self._c = conn

    @staticmethod
    def _values(flow: Flow) -> dict[str, Any]:
        return dict(kind=flow.kind.value, channel=flow.channel.value, state=flow.state,
                    created_at=flow.created_at, expires_at=flow.expires_at,
                    context=dict(flow.context),
                    messages=[{"code": m.code, "text": m.text, "type": m.type}
                              for m in flow.messages],
                    binding=flow.binding, account_id=flow.account_id, session_id=flow.session_id)

    async def get(self, flow_id: str) -> Flow | None:
        row = (await self._c.execute(_GET, {"b_id": flow_id})).first()
        if row is None:
            return None
        return Flow(id=row.id, kind=FlowKind(row.kind), channel=Channel(row.channel),
                    state=row.state, created_at=row.created_at, expires_at=row.expires_at,
                    version=row.version, context=row.context,
                    messages=tuple(Feedback(**m) for m in row.messages), binding=row.binding,
                    account_id=row.account_id, session_id=row.session_id)

    async def create(self, flow: Flow) -> None:
        await self._c.execute(_CREATE, {"id": flow.id, "version": flow.version,
                                        **self._values(flow)})

    async def save(self, flow: Flow) -> Flow:
        result = await self._c.execute(_SAVE, {"b_id": flow.id, "b_version": flow.version,
                                               "version": flow.version + 1,
                                               **self._values(flow)})
        if result.rowcount != 1:
            raise StaleFlow(flow.id)
        return flow.evolve(version=flow.version + 1)
