"""Placing security holds (withdrawals held for 24 hours after a risky change)."""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.holds import HOLD_DURATION, HoldReason, SecurityHold
from keepgate.security.tokens import new_id
from keepgate.services.context import RequestContext
from keepgate.services.ports import UnitOfWork


async def place_hold(uow: UnitOfWork, account_id: str, reason: HoldReason,
                     ctx: RequestContext, now: datetime) -> SecurityHold:
    hold = SecurityHold(id=new_id(), account_id=account_id, kind="withdrawal", reason=reason,
                        created_at=now, expires_at=now + HOLD_DURATION)
    await uow.holds.create(hold)
    await uow.audit.append(AuditEvent(EventKind.HOLD_PLACED, Outcome.SUCCESS, account_id,
                                      ctx.ip, ctx.user_agent,
                                      {"reason": reason.value,
                                       "until": hold.expires_at.isoformat()}), now)
    return hold
