"""Identity-verification (KYC) tiers, the capabilities each unlocks, and their limits.

A new account is *restricted* (tier 0): it can sign in and view markets. Depositing, trading,
withdrawing and API access unlock tier by tier, and each capability that moves money has a
limit per rolling day (24 hours) and per rolling month (30 days), in the policy's reference
currency. The operator may replace the whole table with a TOML file
(``KEEPGATE_POLICY_FILE``; ``docs/tier-policy.example.toml`` is the built-in default written
out): ``tier_policy_from_mapping`` checks it and names every problem at once.

===  ========================================  ==============================================
tier  the customer provides                     unlocks (default limits in USD, day / month)
===  ========================================  ==============================================
0     a verified email or mobile number         view markets
1     legal name, date of birth, country,       deposit 10,000 / 50,000; trade 25,000 /
      ID number                                 100,000; withdraw 5,000 / 20,000
2     ID document images and a selfie           ×10 those limits; API access
3     proof of address                          ×10 again
===  ========================================  ==============================================
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from keepgate.domain.errors import AmountInvalid
from keepgate.domain.money import ZERO, parse_amount


class Capability(StrEnum):
    VIEW_MARKETS = "view_markets"
    DEPOSIT = "deposit"
    TRADE = "trade"
    WITHDRAW = "withdraw"
    API_ACCESS = "api_access"


# The capabilities that move money: each has a limit wherever a tier grants it.
MONEY_CAPABILITIES = frozenset({Capability.DEPOSIT, Capability.TRADE, Capability.WITHDRAW})

CAPABILITY_LABELS: dict[Capability, str] = {
    Capability.VIEW_MARKETS: "View markets",
    Capability.DEPOSIT: "Deposit",
    Capability.TRADE: "Trade",
    Capability.WITHDRAW: "Withdraw",
    Capability.API_ACCESS: "API access",
}

DAY = timedelta(days=1)
MONTH = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Limit:
    """How much of a capability may be used in any rolling day and any rolling month."""

    daily: Decimal
    monthly: Decimal


@dataclass(frozen=True, slots=True)
class Tier:
    level: int
    name: str
    requirements: tuple[str, ...]
    capabilities: frozenset[Capability]
    limits: Mapping[Capability, Limit] = field(default_factory=dict)
    how: str = ""  # how a customer reaches this tier, in a sentence

    def limit(self, capability: Capability) -> Limit | None:
        return self.limits.get(capability)

    @property
    def daily_withdrawal_limit_usd(self) -> Decimal:
        """The daily withdrawal limit (zero where withdrawing is not allowed)."""
        found = self.limits.get(Capability.WITHDRAW)
        return found.daily if found else ZERO


@dataclass(frozen=True, slots=True)
class TierPolicy:
    """The tiers, in order from 0, and the currency their limits are in."""

    tiers: tuple[Tier, ...]
    currency: str = "USD"
    # Capabilities that also need a strong second factor proven within the step-up window.
    step_up: frozenset[Capability] = frozenset({Capability.WITHDRAW})

    def tier(self, level: int) -> Tier:
        if not 0 <= level < len(self.tiers):
            raise ValueError(f"unknown KYC tier {level}")
        return self.tiers[level]

    def next_tiers(self, level: int) -> tuple[Tier, ...]:
        return self.tiers[level + 1:]

    def tier_granting(self, capability: Capability) -> Tier | None:
        """The lowest tier that grants ``capability``; None if no tier does."""
        return next((t for t in self.tiers if capability in t.capabilities), None)

    def limit(self, level: int, capability: Capability) -> Limit | None:
        return self.tier(level).limit(capability)


def _usd(daily: int, monthly: int) -> Limit:
    return Limit(Decimal(daily).quantize(ZERO), Decimal(monthly).quantize(ZERO))


_MONEY = frozenset({Capability.VIEW_MARKETS, *MONEY_CAPABILITIES})
DEFAULT_POLICY = TierPolicy(tiers=(
    Tier(0, "Unverified", ("Verified email or mobile number",),
         frozenset({Capability.VIEW_MARKETS}),
         how="Sign up and confirm your email address or mobile number."),
    Tier(1, "Basic verification",
         ("Full legal name", "Date of birth", "Country of residence", "National ID number"),
         _MONEY,
         {Capability.DEPOSIT: _usd(10_000, 50_000), Capability.TRADE: _usd(25_000, 100_000),
          Capability.WITHDRAW: _usd(5_000, 20_000)},
         how="Tell us your legal name, date of birth, country and national ID number."),
    Tier(2, "Advanced verification", ("Photos of your ID document", "A selfie"),
         frozenset(Capability),
         {Capability.DEPOSIT: _usd(100_000, 500_000),
          Capability.TRADE: _usd(250_000, 1_000_000),
          Capability.WITHDRAW: _usd(50_000, 200_000)},
         how="Upload photos of your ID document and take a selfie."),
    Tier(3, "Full verification", ("Proof of address",),
         frozenset(Capability),
         {Capability.DEPOSIT: _usd(1_000_000, 5_000_000),
          Capability.TRADE: _usd(2_500_000, 10_000_000),
          Capability.WITHDRAW: _usd(500_000, 2_000_000)},
         how="Upload a recent utility bill or bank statement showing your address."),
))
TIERS = DEFAULT_POLICY.tiers


def tier(level: int) -> Tier:
    """A tier of the built-in policy (``TierPolicy.tier`` for the one in force)."""
    return DEFAULT_POLICY.tier(level)


def next_tiers(level: int) -> tuple[Tier, ...]:
    return DEFAULT_POLICY.next_tiers(level)


class PolicyProblems(Exception):
    """A tier policy that must not run; ``problems`` names each thing wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


_CURRENCY = re.compile(r"[A-Z]{3}")


def tier_policy_from_mapping(data: Mapping[str, Any]) -> TierPolicy:
    """The policy a parsed TOML document describes, checked whole; raises ``PolicyProblems``.

    ``currency`` (3 capital letters, default USD), ``step_up`` (capabilities needing a fresh
    strong second factor, default ``["withdraw"]``) and ``[[tiers]]``, each with ``level``,
    ``name``, ``requirements``, ``capabilities``, ``how`` and ``[tiers.limits.<capability>]``
    ``daily`` / ``monthly`` (strings or whole numbers: a TOML float is refused, it cannot say
    exactly what it means).
    """
    problems: list[str] = []
    known = {"currency", "step_up", "tiers"}
    problems += [f"unknown key {key!r} (expected one of: {', '.join(sorted(known))})"
                 for key in data if key not in known]
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        problems.append(f"currency must be a three-letter code such as USD, not {currency!r}")
        currency = "USD"
    step_up = _capabilities(data.get("step_up", ["withdraw"]), "step_up", problems)
    raw_tiers = data.get("tiers")
    tiers: list[Tier] = []
    if not isinstance(raw_tiers, list) or not raw_tiers:
        problems.append("tiers: at least one [[tiers]] table is needed (tier 0 first)")
    else:
        for index, raw in enumerate(raw_tiers):
            built = _tier(raw, index, problems)
            if built is not None:
                tiers.append(built)
    if tiers and len(tiers) == len(raw_tiers or ()):
        problems += _order_problems(tiers)
    if problems:
        raise PolicyProblems(problems)
    return TierPolicy(tiers=tuple(tiers), currency=currency, step_up=step_up)


_TIER_KEYS = {"level", "name", "requirements", "capabilities", "limits", "how"}


def _tier(raw: object, index: int, problems: list[str]) -> Tier | None:
    where = f"tiers[{index}]"
    if not isinstance(raw, Mapping):
        problems.append(f"{where} must be a table")
        return None
    before = len(problems)
    problems += [f"{where}: unknown key {key!r}" for key in raw if key not in _TIER_KEYS]
    level = raw.get("level")
    if not isinstance(level, int) or isinstance(level, bool) or level != index:
        problems.append(f"{where}: level must be {index} (tiers are listed in order from 0)")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{where}: name must be a non-empty string")
    requirements = raw.get("requirements", [])
    if not isinstance(requirements, list) or not all(isinstance(r, str) and r.strip()
                                                     for r in requirements):
        problems.append(f"{where}: requirements must be a list of strings")
        requirements = []
    how = raw.get("how", "")
    if not isinstance(how, str):
        problems.append(f"{where}: how must be a string")
        how = ""
    capabilities = _capabilities(raw.get("capabilities", []), f"{where}.capabilities", problems)
    limits = _limits(raw.get("limits", {}), where, capabilities, problems)
    if len(problems) > before:
        return None
    assert isinstance(level, int) and isinstance(name, str)
    return Tier(level, name.strip(), tuple(requirements), capabilities, limits, how)


def _capabilities(raw: object, where: str, problems: list[str]) -> frozenset[Capability]:
    if not isinstance(raw, list):
        problems.append(f"{where} must be a list of capability names")
        return frozenset()
    found = set()
    for item in raw:
        try:
            found.add(Capability(item))
        except ValueError:
            problems.append(f"{where}: unknown capability {item!r} (known: "
                            f"{', '.join(c.value for c in Capability)})")
    return frozenset(found)


def _limits(raw: object, where: str, capabilities: frozenset[Capability],
            problems: list[str]) -> dict[Capability, Limit]:
    if not isinstance(raw, Mapping):
        problems.append(f"{where}.limits must be a table of capabilities")
        return {}
    limits: dict[Capability, Limit] = {}
    for name, values in raw.items():
        here = f"{where}.limits.{name}"
        try:
            capability = Capability(name)
        except ValueError:
            problems.append(f"{here}: unknown capability {name!r}")
            continue
        if capability not in MONEY_CAPABILITIES:
            problems.append(f"{here}: {name} moves no money and takes no limit")
            continue
        if capability not in capabilities:
            problems.append(f"{here}: the tier does not grant {name}")
            continue
        if not isinstance(values, Mapping) or set(values) != {"daily", "monthly"}:
            problems.append(f"{here} needs exactly daily and monthly")
            continue
        daily = _amount(values["daily"], f"{here}.daily", problems)
        monthly = _amount(values["monthly"], f"{here}.monthly", problems)
        if daily is None or monthly is None:
            continue
        if daily > monthly:
            problems.append(f"{here}: daily ({daily}) is more than monthly ({monthly})")
            continue
        limits[capability] = Limit(daily, monthly)
    problems += [f"{where}: grants {c.value} but gives it no [limits.{c.value}]"
                 for c in sorted(capabilities & MONEY_CAPABILITIES) if c.value not in raw]
    return limits


def _amount(raw: object, where: str, problems: list[str]) -> Decimal | None:
    if isinstance(raw, float):
        problems.append(f"{where}: write the amount as a string or a whole number, "
                        f"not the float {raw!r}")
        return None
    try:
        return parse_amount(raw)
    except AmountInvalid as error:
        problems.append(f"{where}: {error.message} ({error.code}, got {raw!r})")
        return None


def _order_problems(tiers: list[Tier]) -> list[str]:
    """Each tier keeps what the one below grants, at limits no lower."""
    problems = []
    if tiers[0].capabilities - {Capability.VIEW_MARKETS}:
        problems.append("tiers[0] (a new, unverified account) may grant only view_markets")
    for lower, higher in itertools.pairwise(tiers):
        lost = lower.capabilities - higher.capabilities
        if lost:
            problems.append(f"tiers[{higher.level}] takes away "
                            f"{', '.join(sorted(c.value for c in lost))} granted below it")
        for capability, below in lower.limits.items():
            above = higher.limits.get(capability)
            if above is not None and (above.daily < below.daily
                                      or above.monthly < below.monthly):
                problems.append(f"tiers[{higher.level}].limits.{capability.value} is lower "
                                f"than tier {lower.level}'s")
    return problems
