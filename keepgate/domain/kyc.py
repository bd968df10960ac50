"""Identity-verification (KYC) tiers and the capabilities each one unlocks.

A new account is *restricted*: it can sign in and view markets. Depositing, trading,
withdrawing and API access unlock tier by tier.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Capability(StrEnum):
    VIEW_MARKETS = "view_markets"
    DEPOSIT = "deposit"
    TRADE = "trade"
    WITHDRAW = "withdraw"
    API_ACCESS = "api_access"


CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.VIEW_MARKETS: "View markets",
    Capability.DEPOSIT: "Deposit",
    Capability.TRADE: "Trade",
    Capability.WITHDRAW: "Withdraw",
    Capability.API_ACCESS: "API access",
}


@dataclass(frozen=True, slots=True)
class Tier:
    level: int
    name: str
    requirements: tuple[str, ...]
    capabilities: frozenset[Capability]
    daily_withdrawal_limit_usd: int


TIERS: tuple[Tier, ...] = (
    Tier(0, "Unverified", ("Verified email or mobile number",),
         frozenset({Capability.VIEW_MARKETS}), 0),
    Tier(1, "Basic verification",
         ("Full legal name and date of birth", "Government-issued photo ID", "Selfie check"),
         frozenset({Capability.VIEW_MARKETS, Capability.DEPOSIT, Capability.TRADE,
                    Capability.WITHDRAW}), 20_000),
    Tier(2, "Advanced verification", ("Proof of address", "Source of funds for large volumes"),
         frozenset(Capability), 1_000_000),
)


def tier(level: int) -> Tier:
    if not 0 <= level < len(TIERS):
        raise ValueError(f"unknown KYC tier {level}")
    return TIERS[level]


def next_tiers(level: int) -> tuple[Tier, ...]:
    return TIERS[level + 1 :]
