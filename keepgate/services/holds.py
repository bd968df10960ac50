"""Placing security holds (withdrawals held for 24 hours after a risky change).

Holds are only ever placed here; none is lifted or shortened anywhere (``domain.holds``).
"""

from __future__ import annotations

from datetime import datetime

from keepgate.domain.audit import AuditEvent, EventKind, Outcome
from keepgate.domain.holds import HOLD_CAUSES, HOLD_DURATION, HoldReason, SecurityHold
from keepgate.domain.kyc import Capability
from keepgate.security.tokens import new_id
from keepgate.services.context import RequestContext
from keepgate.services.ports import UnitOfWork


async def place_hold(uow: UnitOfWork, account_id: str, reason: HoldReason,
                     ctx: RequestContext, now: datetime) -> SecurityHold:
    hold = SecurityHold(id=new_id(), account_id=account_id, capability=Capability.WITHDRAW,
                        reason=reason, created_at=now, expires_at=now + HOLD_DURATION,
                        cause=HOLD_CAUSES[reason].value)
    await uow.holds.create(hold)
    await uow.audit.append(AuditEvent(EventKind.HOLD_PLACED, Outcome.SUCCESS, account_id,
                                      ctx.ip, ctx.user_agent,
                                      {"reason": reason.value,
                                       "capability": hold.capability.value,
                                       "cause": hold.cause,
                                       "until": hold.expires_at.isoformat()}), now)
    return hold
