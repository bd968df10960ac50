"""keepgate.domain.kyc and keepgate.domain.accounts: tiers, capabilities and contact."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from keepgate.domain.accounts import Account, AccountStatus
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.kyc import (
    CAPABILITY_LABELS,
    DEFAULT_POLICY,
    MONEY_CAPABILITIES,
    TIERS,
    Capability,
    next_tiers,
    tier,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_tier_zero_can_only_view_markets() -> None:
    t0 = tier(0)
    assert t0.level == 0
    assert t0.capabilities == frozenset({Capability.VIEW_MARKETS})
    assert t0.daily_withdrawal_limit_usd == 0
    for cap in (Capability.DEPOSIT, Capability.TRADE, Capability.WITHDRAW, Capability.API_ACCESS):
        assert cap not in t0.capabilities


def test_tier_one_unlocks_money_but_not_api() -> None:
    t1 = tier(1)
    assert {Capability.DEPOSIT, Capability.TRADE, Capability.WITHDRAW} <= t1.capabilities
    assert Capability.API_ACCESS not in t1.capabilities
    assert t1.daily_withdrawal_limit_usd > 0


def test_tier_two_has_every_capability() -> None:
    assert tier(2).capabilities == frozenset(Capability)


def test_tier_three_raises_the_limits_further() -> None:
    assert tier(3).capabilities == frozenset(Capability)
    for capability in MONEY_CAPABILITIES:
        below, above = tier(2).limits[capability], tier(3).limits[capability]
        assert above.daily > below.daily and above.monthly > below.monthly


def test_tiers_are_ordered_and_monotonic() -> None:
    assert [t.level for t in TIERS] == list(range(len(TIERS)))
    for lower, higher in itertools.pairwise(TIERS):
        assert lower.capabilities <= higher.capabilities
        assert lower.daily_withdrawal_limit_usd < higher.daily_withdrawal_limit_usd
    assert TIERS[0].capabilities < TIERS[1].capabilities < TIERS[2].capabilities
    for t in TIERS:
        assert Capability.VIEW_MARKETS in t.capabilities
        assert t.requirements and t.name and t.how
        # Every capability that moves money has a daily and a monthly limit, in Decimal.
        assert set(t.limits) == t.capabilities & MONEY_CAPABILITIES
        for limit in t.limits.values():
            assert isinstance(limit.daily, Decimal) and 0 < limit.daily <= limit.monthly


def test_tier_one_needs_the_personal_details() -> None:
    assert tier(1).requirements == ("Full legal name", "Date of birth",
                                    "Country of residence", "National ID number")


@pytest.mark.parametrize("level", [-1, 4, 99])
def test_unknown_tier_raises(level: int) -> None:
    with pytest.raises(ValueError, match="unknown KYC tier"):
        tier(level)


def test_next_tiers() -> None:
    assert [t.level for t in next_tiers(0)] == [1, 2, 3]
    assert [t.level for t in next_tiers(2)] == [3]
    assert next_tiers(3) == ()


def test_the_lowest_tier_granting_a_capability() -> None:
    assert DEFAULT_POLICY.tier_granting(Capability.WITHDRAW) == tier(1)
    assert DEFAULT_POLICY.tier_granting(Capability.API_ACCESS) == tier(2)
    assert DEFAULT_POLICY.currency == "USD"


def test_every_capability_has_a_label() -> None:
    assert set(CAPABILITY_LABELS) == set(Capability)
    assert all(CAPABILITY_LABELS.values())


def _account(**kw: object) -> Account:
    base: dict[str, object] = {
        "id": "a1", "email": "jane@example.com", "phone": None, "password_hash": "h",
        "status": AccountStatus.RESTRICTED, "kyc_tier": 0, "created_at": T0,
    }
    base.update(kw)
    return Account(**base)  # type: ignore[arg-type]


def test_new_account_capabilities_follow_its_tier() -> None:
    assert _account().capabilities == frozenset({Capability.VIEW_MARKETS})
    assert _account(kyc_tier=2, status=AccountStatus.ACTIVE).capabilities == frozenset(Capability)


def test_account_contact_prefers_email_then_phone() -> None:
    both = _account(phone="+447911123456")
    assert both.contact == Identifier(IdentifierKind.EMAIL, "jane@example.com")
    phone_only = _account(email=None, phone="+447911123456")
    assert phone_only.contact == Identifier(IdentifierKind.PHONE, "+447911123456")
    assert phone_only.identifier_for(IdentifierKind.EMAIL) is None
    assert phone_only.identifier_for(IdentifierKind.PHONE) == phone_only.contact
