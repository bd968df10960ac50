"""Request and response bodies of the decision API for the exchange's other services."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from keepgate.domain.principals import CustomerSession
from keepgate.domain.sessions import SessionPolicy

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
