"""Request and response bodies of the decision API for the exchange's other services."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from keepgate.domain.kyc import Capability
from keepgate.domain.principals import CustomerSession
from keepgate.domain.sessions import SessionPolicy
from keepgate.services.ports import AccountDecision, LimitReservation

# Money travels as a decimal string ("1250.50"), never a JSON number: a float cannot carry
# every amount exactly.
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,19})(\.[0-9]{1,18})?$"
Amount = Annotated[str, Field(pattern=AMOUNT_PATTERN, max_length=40, examples=["1250.50"],
                              description="A decimal string in the reference currency (USD "
                              "by default); never a JSON number")]
AccountId = Annotated[str, Field(min_length=1, max_length=36,
                                 description="The account's id (`sub` in introspection)")]


class IntrospectionIn(BaseModel):
    """The body of ``POST /api/v1/introspect``, form-encoded (RFC 7662) or as JSON."""

    model_config = ConfigDict(extra="ignore")
    token: str = Field(max_length=4096, description="The session token to ask about")
    token_type_hint: str | None = Field(default=None, max_length=64,
                                        description="Accepted and ignored: Keepgate issues "
                                        "one kind of token")


class ActiveSessionOut(BaseModel):
    """An active session (RFC 7662 names, and Keepgate's own after ``iat``)."""

    active: Literal[True]
    sub: str = Field(description="The account id")
    exp: int = Field(description="When the session ends if it is not used again (Unix time): "
                     "the idle deadline or the absolute limit, whichever is sooner")
    iat: int = Field(description="When the session was issued (Unix time)")
    aal: str = Field(description="Assurance level: aal1 (one factor) or aal2 (two)")
    amr: list[str] = Field(description="Methods the session proved, by Keepgate's names: "
                           "password, totp, sms_code, email_code, webauthn, passkey, "
                           "recovery_code, code")
    kyc_tier: int
    capabilities: list[str] = Field(description="What the account's verification tier "
                                    "unlocks; holds and limits are decided by "
                                    "POST /api/v1/decisions")
    session_id: str


class InactiveSessionOut(BaseModel):
    """An unknown, expired or revoked token: this and nothing else."""

    model_config = ConfigDict(extra="forbid")
    active: Literal[False]


IntrospectionOut = ActiveSessionOut | InactiveSessionOut


def introspection_out(found: CustomerSession | None,
                      policy: SessionPolicy) -> IntrospectionOut:
    if found is None:
        return InactiveSessionOut(active=False)
    session, account = found.session, found.account
    return ActiveSessionOut(
        active=True, sub=account.id, exp=int(session.idle_expires_at(policy).timestamp()),
        iat=int(session.created_at.timestamp()), aal=session.aal.value,
        amr=list(session.methods), kyc_tier=account.kyc_tier,
        capabilities=sorted(c.value for c in account.capabilities), session_id=session.id)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: AccountId
    capability: Capability
    amount: Amount | None = None


class ReasonOut(BaseModel):
    """One reason for a refusal: a stable ``code`` and, by code, what to act on."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(description="tier_too_low, hold_active, limit_exceeded, "
                      "account_locked, step_up_required, ...")


class DecisionOut(BaseModel):
    allowed: bool
    reasons: list[ReasonOut]


def decision_out(decision: AccountDecision) -> DecisionOut:
    return DecisionOut(allowed=decision.allowed, reasons=[
        ReasonOut(code=r.code, **dict(r.data)) for r in decision.reasons])


class ReservationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: AccountId
    capability: Literal[Capability.WITHDRAW, Capability.DEPOSIT, Capability.TRADE]
    amount: Amount


class ReservationOut(BaseModel):
    id: str
    account_id: str
    capability: str
    amount: str
    status: Literal["reserved", "committed", "released"]
    idempotency_key: str
    created_at: datetime


def reservation_out(reservation: LimitReservation) -> ReservationOut:
    return ReservationOut(
        id=reservation.id, account_id=reservation.account_id,
        capability=reservation.capability, amount=str(reservation.amount),
        status=reservation.status,  # type: ignore[arg-type]
        idempotency_key=reservation.idempotency_key, created_at=reservation.created_at)


def amount_of(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)
