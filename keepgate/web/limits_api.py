"""The account's tier, what it unlocks, and its limits used and left (``/api/v1/account``).

Amounts are strings at the fixed scale ("4980.00"), in the policy's reference currency: JSON
numbers would be read as floats.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from keepgate.domain.kyc import CAPABILITY_LABELS, Tier
from keepgate.domain.money import format_amount
from keepgate.services.limits import TierStatus
from keepgate.web.api import errors
from keepgate.web.deps import Current, Limits

router = APIRouter(prefix="/api/v1/account", tags=["account"])


def amount(description: str) -> Any:
    return Field(description=f"{description}: a decimal string such as \"4980.00\"",
                 pattern=r"^\d+\.\d{2}$")



class TierOut(BaseModel):
    level: int
    name: str
    requirements: list[str] = Field(description="What the customer provides for this tier")
    how: str = Field(description="How to reach this tier, in a sentence")
    capabilities: list[str]


class LimitOut(BaseModel):
    capability: str
    label: str
    daily: str = amount("The limit per rolling 24 hours")
    monthly: str = amount("The limit per rolling 30 days")
    used_today: str = amount("Used (committed or reserved) in the last 24 hours")
    used_this_month: str = amount("Used in the last 30 days")
    left_today: str = amount("Left of the daily limit")
    left_this_month: str = amount("Left of the monthly limit")
    left: str = amount("What may be used now, the smaller of the two")


class TierLimitOut(BaseModel):
    capability: str
    daily: str = amount("The limit per rolling 24 hours")
    monthly: str = amount("The limit per rolling 30 days")


class AccountLimitsOut(BaseModel):
    kyc_tier: int
    tier: TierOut
    currency: str = Field(description="The reference currency of every amount")
    unlocked: list[str] = Field(description="The capabilities this tier grants")
    limits: list[LimitOut]
    next_tier: TierOut | None = Field(description="The tier above, or null at the top")
    next_unlocks: list[str] = Field(description="Capabilities the next tier adds")
    next_limits: list[TierLimitOut] = Field(description="The next tier's limits")


def tier_out(tier: Tier) -> TierOut:
    return TierOut(level=tier.level, name=tier.name, requirements=list(tier.requirements),
                   how=tier.how, capabilities=sorted(c.value for c in tier.capabilities))


def account_limits_out(status: TierStatus) -> AccountLimitsOut:
    following = status.next_tier
    return AccountLimitsOut(
        kyc_tier=status.tier.level, tier=tier_out(status.tier), currency=status.currency,
        unlocked=sorted(c.value for c in status.unlocked),
        limits=[LimitOut(capability=x.capability.value, label=CAPABILITY_LABELS[x.capability],
                         daily=format_amount(x.limit.daily),
                         monthly=format_amount(x.limit.monthly),
                         used_today=format_amount(x.usage.day),
                         used_this_month=format_amount(x.usage.month),
                         left_today=format_amount(x.day_left),
                         left_this_month=format_amount(x.month_left),
                         left=format_amount(x.left)) for x in status.limits],
        next_tier=tier_out(following) if following else None,
        next_unlocks=sorted(c.value for c in status.next_unlocks),
        next_limits=[TierLimitOut(capability=c.value, daily=format_amount(lim.daily),
                                  monthly=format_amount(lim.monthly))
                     for c, lim in sorted(following.limits.items())] if following else [])


@router.get("/limits", response_model=AccountLimitsOut, responses=errors(401),
            summary="My tier, what it unlocks, my limits used and left, and the next tier")
async def account_limits(current: Current, limits: Limits) -> AccountLimitsOut:
    return account_limits_out(await limits.status(current.account.id))
