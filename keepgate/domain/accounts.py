"""Accounts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.kyc import Capability, tier


class AccountStatus(StrEnum):
    RESTRICTED = "restricted"  # signed up, not yet identity-verified (KYC tier 0)
    ACTIVE = "active"  # verified at tier 1 or above


@dataclass(frozen=True, slots=True)
class Account:
    id: str
    email: str | None
    phone: str | None
    password_hash: str
    status: AccountStatus
    kyc_tier: int
    created_at: datetime
    failed_logins: int = 0  # consecutive failures from devices not yet trusted
    banned_until: datetime | None = None
    locked_at: datetime | None = None  # "this wasn't me": sign-in stays locked until recovery
    anti_phishing_code: str | None = None  # shown in every message we send, once set
    muted_notices: tuple[str, ...] = ()  # only non-critical notices can be muted
    security_version: int = 0  # bumped by every security-centre change (optimistic locking)

    def banned(self, now: datetime) -> bool:
        return self.banned_until is not None and now < self.banned_until

    @property
    def capabilities(self) -> frozenset[Capability]:
        return tier(self.kyc_tier).capabilities

    def identifier_for(self, kind: IdentifierKind) -> Identifier | None:
        value = self.email if kind is IdentifierKind.EMAIL else self.phone
        return Identifier(kind, value) if value else None

    @property
    def contact(self) -> Identifier:
        """Where account notices go: the email address when there is one, else the phone."""
        if self.email:
            return Identifier(IdentifierKind.EMAIL, self.email)
        assert self.phone is not None, "an account always has an email or a phone"
        return Identifier(IdentifierKind.PHONE, self.phone)
