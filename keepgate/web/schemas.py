"""Request and response schemas of the JSON API (pydantic lives only in ``web``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool
from pydantic.config import JsonDict

from keepgate.domain.accounts import Account
from keepgate.domain.factors import FACTOR_PREFERENCE, Factor
from keepgate.domain.kyc import Capability
from keepgate.domain.sessions import Session
from keepgate.flows.base import Flow, FlowKind
from keepgate.flows.registry import SPECS
from keepgate.services.devices import describe_device
from keepgate.services.effects import IssuedSession
from keepgate.services.flows import methods_of
from keepgate.services.methods import (
    CodeSubmission,
    FactorSubmission,
    IdentifierSubmission,
    NewPasswordSubmission,
    PasswordSubmission,
    Submission,
)
from keepgate.web.errors import ERROR_CODES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


CAPTCHA = Field(default=None, max_length=4096,
                description="The ALTCHA solution, when `captcha` is among the flow's methods")


class PasswordIn(Strict):
    """First factor. On registration, ``accept_terms`` must be true."""

    method: Literal["password"]
    identifier: str = Field(min_length=1, max_length=254,
                            description="Email address, or mobile number: in international "
                                        "format (+…), or in the national format of `country`")
    country: str | None = Field(
        None, min_length=2, max_length=2, pattern="^[A-Za-z]{2}$",
        description="ISO 3166-1 alpha-2 region of a mobile number typed in its national "
                    "format (`GB` for `07400 123456`); ignored for + numbers and emails")
    password: str = Field(min_length=1, max_length=1024)
    accept_terms: StrictBool | None = None
    captcha: str | None = CAPTCHA


class TotpIn(Strict):
    """Sign-in or step-up: the app's current code. Settings: no code to get a new secret
    (``data.secret``, ``otpauth_uri``, ``qr_svg``), then the code to confirm it."""

    method: Literal["totp"]
    code: str | None = Field(default=None, max_length=16)
    password: str | None = Field(default=None, max_length=1024, description=(
        "Settings: your password again, with the submission that adds the factor"))


class SentCodeIn(Strict):
    """``{"action": "send"}`` delivers a code; then ``{"code": "…"}``."""

    method: Literal["sms_code", "email_code", "device_code"]
    action: Literal["send", "resend", "verify"] = "verify"
    code: str | None = Field(default=None, max_length=16)
    password: str | None = Field(default=None, max_length=1024, description=(
        "Settings: your password again, with the submission that adds the factor"))


class RecoveryCodeIn(Strict):
    """Sign-in or step-up: one recovery code. Settings: ``{"action": "regenerate"}``."""

    method: Literal["recovery_code"]
    action: Literal["verify", "regenerate"] = "verify"
    code: str | None = Field(default=None, max_length=64)


class WebAuthnIn(Strict):
    """``credential`` is the browser's ``PublicKeyCredential.toJSON()``. In settings, send
    no credential first to get creation options (``passkey: false`` for a second-factor-only
    security key), then the credential and an optional ``name``."""

    method: Literal["webauthn"]
    credential: dict[str, Any] | None = None
    name: str | None = Field(default=None, max_length=64)
    passkey: StrictBool | None = None
    captcha: str | None = CAPTCHA
    password: str | None = Field(default=None, max_length=1024, description=(
        "Settings: your password again, with the submission that adds the factor"))


class CodeIn(Strict):
    """A code we sent (``action: verify``, the default), or ask for a new one (``resend``)."""

    method: Literal["code"]
    code: str | None = Field(default=None, max_length=32)
    action: Literal["verify", "resend"] = "verify"


class ContactIn(Strict):
    """Settings: change the email or phone. ``{"kind", "value"}`` sends a code to the new
    address; then ``{"code", "password"}`` makes the change (needs step-up)."""

    method: Literal["contact"]
    kind: Literal["email", "phone"] | None = None
    value: str | None = Field(default=None, max_length=254)
    country: str | None = Field(
        None, min_length=2, max_length=2, pattern="^[A-Za-z]{2}$",
        description="ISO 3166-1 alpha-2 region of a new mobile number typed in its national "
                    "format; ignored for + numbers and emails")
    code: str | None = Field(default=None, max_length=16)
    password: str | None = Field(default=None, max_length=1024, description=(
        "Your password again, with the code that makes the change"))


class IdentifierIn(Strict):
    """Recovery: the email address or phone number the reset code should go to."""

    method: Literal["identifier"]
    identifier: str = Field(min_length=1, max_length=254,
                            description="Email address, or mobile number in E.164 (+…)")
    captcha: str | None = CAPTCHA


class NewPasswordIn(Strict):
    """Recovery: the new password, screened as at sign-up."""

    method: Literal["new_password"]
    password: str = Field(min_length=1, max_length=1024)


AnySubmission = (PasswordIn | CodeIn | TotpIn | SentCodeIn | RecoveryCodeIn | WebAuthnIn
                 | ContactIn | IdentifierIn | NewPasswordIn)
FlowSubmission = Annotated[AnySubmission, Field(discriminator="method")]


def to_submission(body: AnySubmission) -> Submission:
    if isinstance(body, PasswordIn):
        return PasswordSubmission(body.identifier, body.password, body.accept_terms,
                                  body.captcha, body.country)
    if isinstance(body, CodeIn):
        return CodeSubmission(body.code, body.action)
    if isinstance(body, WebAuthnIn):
        return FactorSubmission(credential=body.credential, name=body.name,
                                passkey=body.passkey, captcha=body.captcha,
                                password=body.password)
    if isinstance(body, ContactIn):
        return FactorSubmission(code=body.code, kind=body.kind, value=body.value,
                                country=body.country, password=body.password)
    if isinstance(body, IdentifierIn):
        return IdentifierSubmission(body.identifier, body.captcha)
    if isinstance(body, NewPasswordIn):
        return NewPasswordSubmission(body.password)
    return FactorSubmission(code=body.code, action=getattr(body, "action", "verify"),
                            password=getattr(body, "password", None))


_TIME = {"type": "string", "format": "date-time"}
_TEXT = {"type": "string"}
# What a flow shows its client, by kind and state; each key only when it applies. Stated in the
# schema only: the flows' own specs build it (``web.present``).
FLOW_DATA: dict[str, Any] = {
    "type": "object", "additionalProperties": True, "properties": {
        "captcha": {"type": "object", "description": "An ALTCHA challenge, while `captcha` is "
                    "among the methods: solve it and send the solution as `captcha`"},
        "webauthn": {"type": "object", "description": "WebAuthn request options (sign-in, "
                     "step-up) or creation options (settings)"},
        "factors": {"type": "array", "items": {"type": "string", "enum": list(
            FACTOR_PREFERENCE)}, "description": "The second factors offered, strongest first"},
        "recovery_codes_left": {"type": "integer", "minimum": 0},
        "sent_to": {**_TEXT, "description": "Where the code went, masked (registration)"},
        "channel": {"type": "string", "enum": ["email", "sms"]},
        "code_expires_at": _TIME, "resend_available_at": _TIME,
        "attempts_left": {"type": "integer"},
        "secret": {**_TEXT, "description": "A new authenticator's secret (settings, totp)"},
        "otpauth_uri": _TEXT, "qr_svg": _TEXT,
        "recovery_codes": {"type": "array", "items": _TEXT,
                           "description": "Shown once, in the answer that makes them"},
    }}


class FeedbackOut(BaseModel):
    code: str
    text: str
    type: Literal["info", "error"]


class SessionOut(BaseModel):
    id: str
    aal: str = Field(description="aal1: a password; aal2: a password and a second factor "
                     "(an email code included), or a passkey")
    methods: list[str] = Field(description="Every method proven in this session, in order")
    second_factor_at: datetime | None = Field(
        default=None, description="When this session last proved a second factor")
    strong_factor: bool = Field(
        default=False, description="Whether this session has proven a strong second factor "
        "(TOTP, a passkey or security key, SMS, a recovery code): an email code is not one")
    strong_factor_at: datetime | None = Field(
        default=None, description="When it last did: security changes need this within the "
        "step-up window (5 minutes)")
    channel: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    device: str
    current: bool = False


class IssuedSessionOut(SessionOut):
    token: str = Field(description="The bearer token. Shown once; store it securely.")


def _wire_names() -> tuple[list[str], list[str]]:
    """Every flow state and every method name a flow can show, from the flows' own specs."""
    specs = SPECS.values()
    states = {state for spec in specs for state in spec.states}
    methods = {method for spec in specs for by_method in spec.transitions.values()
               for method in by_method}
    return sorted(states), sorted(methods | set(FACTOR_PREFERENCE) | {"captcha"})


STATES, METHODS = _wire_names()


def one_of(values: Iterable[str]) -> JsonDict:
    """A string schema naming every value the server may send (stated, not enforced)."""
    choices: list[JsonValue] = list(values)
    return {"type": "string", "enum": choices}


class FlowOut(BaseModel):
    id: str
    kind: FlowKind
    state: str = Field(json_schema_extra=one_of(STATES))
    expires_at: datetime
    methods: list[str] = Field(
        description="What may be submitted now; `captcha` means a solution must come along",
        json_schema_extra={"items": one_of(METHODS)})
    messages: list[FeedbackOut]
    data: dict[str, Any] = Field(json_schema_extra=FLOW_DATA)
    session: IssuedSessionOut | None = Field(
        default=None, description="Present once, in the answer that completes a sign-in "
        "or a step-up (a step-up rotates the token)")
    device_token: str | None = Field(
        default=None, description="Present once, when this device became trusted: send it "
        "as the X-Keepgate-Device header on later sign-ins")


class ErrorDetail(BaseModel):
    code: str = Field(json_schema_extra=one_of(ERROR_CODES))
    message: str
    details: dict[str, Any]


class ErrorOut(BaseModel):
    error: ErrorDetail
    flow: FlowOut | None = None


class MeOut(BaseModel):
    id: str
    email: str | None
    phone: str | None
    status: str
    kyc_tier: int
    capabilities: list[str]
    created_at: datetime
    session: SessionOut


class SessionsOut(BaseModel):
    sessions: list[SessionOut]


class RevokedOut(BaseModel):
    revoked: int


class FactorOut(BaseModel):
    id: str
    kind: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    passkey: bool


class FactorsOut(BaseModel):
    factors: list[FactorOut]
    recovery_codes_left: int


def factor_out(factor: Factor) -> FactorOut:
    return FactorOut(id=factor.id, kind=factor.kind.value, label=factor.label,
                     created_at=factor.created_at, last_used_at=factor.last_used_at,
                     passkey=factor.passkey)


def session_out(session: Session, current_id: str | None = None) -> SessionOut:
    return SessionOut(id=session.id, aal=session.aal.value, methods=list(session.methods),
                      second_factor_at=session.second_factor_at,
                      strong_factor=session.strong_factor_at is not None,
                      strong_factor_at=session.strong_factor_at,
                      channel=session.channel, created_at=session.created_at,
                      last_seen_at=session.last_seen_at, expires_at=session.expires_at,
                      ip=session.ip, user_agent=session.user_agent,
                      device=describe_device(session.user_agent),
                      current=session.id == current_id)


def flow_out(flow: Flow, data: dict[str, Any], issued: IssuedSession | None = None,
             device_token: str | None = None) -> FlowOut:
    session = None
    if issued is not None:
        base = session_out(issued.session, issued.session.id)
        session = IssuedSessionOut(**base.model_dump(), token=issued.token)
    return FlowOut(id=flow.id, kind=flow.kind, state=flow.state, expires_at=flow.expires_at,
                   methods=list(methods_of(flow)),
                   messages=[FeedbackOut(code=m.code, text=m.text, type=m.type)  # type: ignore[arg-type]
                             for m in flow.messages],
                   data=data, session=session, device_token=device_token)


def me_out(account: Account, session: Session,
           capabilities: Iterable[Capability] | None = None) -> MeOut:
    """``capabilities``: what the tier policy in force grants (the built-in one's otherwise)."""
    granted = account.capabilities if capabilities is None else capabilities
    return MeOut(id=account.id, email=account.email, phone=account.phone,
                 status=account.status.value, kyc_tier=account.kyc_tier,
                 capabilities=sorted(c.value for c in granted),
                 created_at=account.created_at, session=session_out(session, session.id))
