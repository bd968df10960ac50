"""The security centre's JSON API (``/api/v1/security``), over ``services.account``.

Each route receives the account services (``Account``), the time (``Now``) and the signed-in
principal (``Current``) as typed dependencies (``web.deps``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from keepgate.domain.anti_phishing import ANTI_PHISHING_RE
from keepgate.domain.holds import HOLD_TEXT, SecurityHold
from keepgate.domain.kyc import Capability
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.web.api import ERRORS, context, require_json
from keepgate.web.deps import Account, Current, Now, ServiceClock
from keepgate.web.schemas import ErrorOut, one_of

router = APIRouter(prefix="/api/v1/security", tags=["security"],
                   responses={**ERRORS, 403: {"model": ErrorOut}},
                   dependencies=[Depends(require_json)])


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HoldOut(BaseModel):
    id: str
    kind: str = Field(description="What is held: 'withdrawal' (the capability, as before "
                                  "'capability' was given)")
    capability: str = Field(description="The capability held, e.g. 'withdraw'")
    cause: str = Field(description="The kind of the audit event that placed the hold")
    reason: str
    description: str
    created_at: datetime
    expires_at: datetime
    seconds_left: int


class ChecklistOut(BaseModel):
    key: str
    done: bool
    title: str
    action: str


class OverviewOut(BaseModel):
    score: int = Field(description="0-100: the share of the checklist that is done")
    checklist: list[ChecklistOut]
    second_factors: int
    passkeys: int
    recovery_codes_left: int
    trusted_devices: int
    anti_phishing_code: str | None
    muted_notices: list[str]
    mutable_notices: list[str]
    holds: list[HoldOut]
    version: int = Field(description="Send back as expected_version to refuse lost updates")


VERSION = Field(default=None, ge=0, le=2**31 - 1)


class AntiPhishingIn(Strict):
    # The rule is the server's (anti_phishing.invalid otherwise); the schema states it.
    code: str = Field(max_length=64, description="4-20 letters and digits",
                      json_schema_extra={"pattern": f"^{ANTI_PHISHING_RE.pattern}$"})
    expected_version: StrictInt | None = VERSION


class PasswordChangeIn(Strict):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class PasswordChangedOut(BaseModel):
    sessions_revoked: int
    hold: HoldOut | None


class LoginEntryOut(BaseModel):
    id: str = Field(description="Opaque; the same entry always has the same id")
    at: datetime
    outcome: Literal["success", "failure", "banned"]
    ip: str
    device: str
    method: str
    reason: str | None
    location: str | None


class LoginHistoryOut(BaseModel):
    entries: list[LoginEntryOut]
    next_before: str | None = Field(description="Pass as ?before= for the next page")


class DeviceOut(BaseModel):
    id: str
    name: str
    ip: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool


class NoticesIn(Strict):
    muted: list[str] = Field(max_length=10, json_schema_extra={
        "items": one_of(sorted(MUTABLE_NOTICES))},
        description="Only non-critical notices can be muted")
    expected_version: StrictInt | None = VERSION


class NoticesOut(BaseModel):
    muted: list[str]
    mutable: list[str]


class RenameIn(Strict):
    label: str = Field(min_length=1, max_length=64, description="A visible name: control "
                       "characters become spaces, runs of spaces one",
                       json_schema_extra={"pattern": r"[^\s\x00-\x1f\x7f-\x9f]"})


def hold_out(hold: SecurityHold, now: datetime) -> HoldOut:
    kind = "withdrawal" if hold.capability is Capability.WITHDRAW else hold.capability.value
    return HoldOut(id=hold.id, kind=kind, capability=hold.capability.value, cause=hold.cause,
                   reason=hold.reason.value,
                   description=HOLD_TEXT[hold.reason], created_at=hold.created_at,
                   expires_at=hold.expires_at,
                   seconds_left=max(0, int((hold.expires_at - now).total_seconds())))


@router.get("", response_model=OverviewOut, summary="Security overview and checklist")
async def overview(account: Account, at: Now, current: Current) -> OverviewOut:
    view = await account.overview.overview(current)
    return OverviewOut(
        score=view.score, checklist=[ChecklistOut(key=i.key, done=i.done, title=i.title,
                                                  action=i.action) for i in view.checklist],
        second_factors=view.factors, passkeys=view.passkeys,
        recovery_codes_left=view.recovery_codes_left, trusted_devices=view.trusted_devices,
        anti_phishing_code=view.account.anti_phishing_code,
        muted_notices=list(view.account.muted_notices), mutable_notices=sorted(MUTABLE_NOTICES),
        holds=[hold_out(h, at) for h in view.holds], version=view.account.security_version)


@router.put("/anti-phishing-code", status_code=204, summary="Set the anti-phishing code "
            "(needs step-up)")
async def set_anti_phishing_code(body: AntiPhishingIn, request: Request, account: Account,
                                 current: Current) -> Response:
    await account.notices.set_anti_phishing_code(current, body.code, context(request),
                                                 body.expected_version)
    return Response(status_code=204)


@router.post("/password", response_model=PasswordChangedOut,
             summary="Change the password (current password and step-up); other sessions end")
async def change_password(body: PasswordChangeIn, request: Request, account: Account,
                          current: Current, clock: ServiceClock) -> PasswordChangedOut:
    revoked = await account.password.change(current, body.current_password, body.new_password,
                                            context(request))
    holds = await account.overview.holds(current.account.id)
    return PasswordChangedOut(sessions_revoked=revoked,
                              hold=hold_out(holds[0], clock.now()) if holds else None)


@router.get("/login-history", response_model=LoginHistoryOut,
            summary="Sign-in attempts on my account, newest first")
async def login_history(
    account: Account, current: Current,
    before: Annotated[str | None, Query(min_length=22, max_length=22,
                                        pattern="^[A-Za-z0-9_-]{22}$")] = None,
    outcome: Annotated[Literal["success", "failure"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> LoginHistoryOut:
    entries, cursor = await account.history.page(current.account.id, before=before,
                                                 outcome=outcome, limit=limit)
    return LoginHistoryOut(entries=[LoginEntryOut(
        id=e.id, at=e.at, outcome=e.outcome,  # type: ignore[arg-type]
        ip=e.ip, device=e.device, method=e.method, reason=e.reason, location=e.location)
        for e in entries], next_before=cursor)


@router.post("/not-me", status_code=204, summary="'This wasn't me': end every other session, "
             "forget trusted devices, hold withdrawals; change your password next")
async def not_me(request: Request, account: Account, current: Current) -> Response:
    await account.takeover.not_me(current, context(request))
    return Response(status_code=204)


@router.get("/devices", response_model=list[DeviceOut], summary="Trusted devices")
async def devices(request: Request, account: Account, current: Current) -> list[DeviceOut]:
    views = await account.devices.trusted(current, context(request).device_token)
    return [DeviceOut(id=v.device.id, name=v.name, ip=v.device.ip,
                      created_at=v.device.created_at, last_used_at=v.device.last_used_at,
                      expires_at=v.device.expires_at, current=v.current) for v in views]


@router.delete("/devices/{device_id}", status_code=204, summary="Forget a trusted device")
async def forget_device(device_id: str, request: Request, account: Account,
                        current: Current) -> Response:
    await account.devices.forget(current, device_id, context(request))
    return Response(status_code=204)


@router.post("/sign-out-everywhere", status_code=204,
             summary="End every session, this one included (step-up with a factor)")
async def sign_out_everywhere(request: Request, account: Account, current: Current) -> Response:
    await account.devices.sign_out_everywhere(current, context(request))
    return Response(status_code=204)


@router.get("/holds", response_model=list[HoldOut], summary="Active security holds")
async def holds(account: Account, at: Now, current: Current) -> list[HoldOut]:
    return [hold_out(h, at) for h in await account.overview.holds(current.account.id)]


@router.get("/notifications", response_model=NoticesOut, summary="Muted notices")
async def get_notices(current: Current) -> NoticesOut:
    return NoticesOut(muted=list(current.account.muted_notices), mutable=sorted(MUTABLE_NOTICES))


@router.put("/notifications", response_model=NoticesOut,
            summary="Mute non-critical notices (critical ones cannot be muted)")
async def set_notices(body: NoticesIn, request: Request, account: Account,
                      current: Current) -> NoticesOut:
    muted = await account.notices.set_muted(current, body.muted, context(request),
                                            body.expected_version)
    return NoticesOut(muted=list(muted), mutable=sorted(MUTABLE_NOTICES))


@router.patch("/factors/{factor_id}", status_code=204, summary="Rename a passkey or key")
async def rename_factor(factor_id: str, body: RenameIn, request: Request, account: Account,
                        current: Current) -> Response:
    await account.factors.rename(current, factor_id, body.label, context(request))
    return Response(status_code=204)
