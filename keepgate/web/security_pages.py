"""The security centre's pages: overview, sign-in methods, step-up, history and devices.

Every form posts with a CSRF token. An action that needs step-up sends the browser through the
step-up page and back (``next``), and a settings change that loses a race says so.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from keepgate.domain.errors import FlowError, KeepgateError, StepUpRequired
from keepgate.domain.factors import FACTOR_LABELS, FactorKind
from keepgate.domain.security_centre import HOLD_TEXT, MUTABLE_NOTICES
from keepgate.flows.base import Channel, Flow, FlowKind
from keepgate.flows.context import webauthn_options
from keepgate.services.flows import SubmitOutcome
from keepgate.services.methods import FactorSubmission
from keepgate.services.sessions import Principal
from keepgate.web.errors import status_for
from keepgate.web.pages import PageState, _set_cookie, page_context
from keepgate.web.pages import factor_submission as _factor_submission
from keepgate.web.present import public_data

router = APIRouter(include_in_schema=False)
NOTICE_LABELS = {
    "factor_added": "A sign-in method was added",
    "anti_phishing_changed": "Your anti-phishing code was changed",
    "recovery_codes_regenerated": "New recovery codes were made",
}
SETUP = "/account/security/setup"


def small_int(text: str) -> int | None:
    """A form or query number: ASCII digits only (not '²'), and small enough for the database."""
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    return None


def _safe_next(value: str | None, default: str = "/account/security") -> str:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return default


async def _principal(page: PageState) -> Principal | None:
    return await page.principal()


def _to_step_up(page: PageState, error: KeepgateError, back: str) -> Response | None:
    """Step-up is a detour and back. A stale sign-in (no factor yet to step up with) is not:
    the page explains it, and the person signs out and in again from there."""
    if isinstance(error, StepUpRequired):
        return page.redirect(f"/account/step-up?next={quote(back)}")
    return None


async def _overview(page: PageState, principal: Principal, status: int = 200,
                    **extra: Any) -> Response:
    kg = page.kg
    view = await kg.security.overview(principal)
    factors = await kg.factors.overview(principal.account.id)
    now = kg.clock.now()
    holds = [{"text": HOLD_TEXT[h.reason], "until": h.expires_at,
              "left": _duration(h.expires_at - now)} for h in view.holds]
    return page.render("security.html", status=status, view=view, factors=factors.factors,
                       labels=FACTOR_LABELS, holds=holds, notice_labels=NOTICE_LABELS,
                       mutable=sorted(MUTABLE_NOTICES), account=principal.account,
                       notice=page.request.query_params.get("notice"), **extra)


def _duration(delta: Any) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@router.get("/account/security", response_class=HTMLResponse)
async def security(request: Request) -> Response:
    page = PageState(request)
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    return await _overview(page, principal)


async def _guarded(page: PageState, action: Any, done: str) -> Response:
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    try:
        await action(principal)
    except KeepgateError as error:
        detour = _to_step_up(page, error, "/account/security")
        if detour is not None:
            return detour
        return await _overview(page, principal, status=status_for(error), error=error)
    return page.redirect(f"/account/security?notice={done}")


@router.post("/account/security/anti-phishing")
async def anti_phishing(request: Request) -> Response:
    page = PageState(request)
    fields = await page.check_csrf()
    version = fields.get("version", "")

    async def act(principal: Principal) -> None:
        await page.kg.security.set_anti_phishing_code(
            principal, fields.get("code", "")[:64], page_context(page),
            small_int(version))

    return await _guarded(page, act, "anti-phishing-saved")


@router.post("/account/security/password")
async def password(request: Request) -> Response:
    page = PageState(request)
    fields = await page.check_csrf()

    async def act(principal: Principal) -> None:
        await page.kg.security.change_password(principal, fields.get("current_password", "")[:1024],
                                               fields.get("new_password", "")[:1024],
                                               page_context(page))

    return await _guarded(page, act, "password-changed")


@router.post("/account/security/notifications")
async def notifications(request: Request) -> Response:
    page = PageState(request)
    form = await request.form()
    await page.check_csrf()
    muted = [str(v) for v in form.getlist("muted")][:10]

    async def act(principal: Principal) -> None:
        await page.kg.security.set_muted_notices(principal, muted, page_context(page))

    return await _guarded(page, act, "notifications-saved")


@router.post("/account/security/factors/{factor_id}/remove")
async def remove_factor(factor_id: str, request: Request) -> Response:
    page = PageState(request)
    await page.check_csrf()

    async def act(principal: Principal) -> None:
        await page.kg.factors.remove(principal, factor_id, page_context(page))

    return await _guarded(page, act, "factor-removed")


@router.post("/account/security/factors/{factor_id}/rename")
async def rename_factor(factor_id: str, request: Request) -> Response:
    page = PageState(request)
    fields = await page.check_csrf()

    async def act(principal: Principal) -> None:
        await page.kg.security.rename_factor(principal, factor_id, fields.get("label", "")[:64],
                                             page_context(page))

    return await _guarded(page, act, "factor-renamed")


# Settings flow: enrol factors and change contacts -----------------------------------------


def _settings_view(page: PageState, flow: Flow, status: int = 200, **extra: Any) -> Response:
    data = public_data(page.kg, flow)
    webauthn = webauthn_options(flow)
    return page.render("security_setup.html", status=status, flow=flow, data=data,
                       webauthn_json=json.dumps(webauthn) if webauthn else None,
                       labels=FACTOR_LABELS, kinds=FactorKind, **extra)


@router.get(SETUP, response_class=HTMLResponse)
async def setup(request: Request) -> Response:
    page = PageState(request)
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    ctx = page_context(page)
    flow_id = request.query_params.get("flow")
    if not flow_id:
        flow = await page.kg.flows.start(FlowKind.SETTINGS.value, Channel.BROWSER, ctx, principal)
        method = request.query_params.get("method", "")
        suffix = f"&method={quote(method)}" if method else ""
        return page.redirect(f"{SETUP}?flow={flow.id}{suffix}")
    try:
        flow = await page.kg.flows.get(flow_id, Channel.BROWSER, ctx, principal)
    except FlowError:
        return page.redirect(SETUP)
    return _settings_view(page, flow, method=request.query_params.get("method", ""))


@router.post(SETUP, response_class=HTMLResponse)
async def setup_submit(request: Request) -> Response:
    page = PageState(request)
    fields = await page.check_csrf()
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    flow_id = request.query_params.get("flow", "")
    method = fields.get("method", "")
    try:
        outcome: SubmitOutcome = await page.kg.flows.submit(
            flow_id, Channel.BROWSER, method, _factor_submission(fields), page_context(page),
            principal)
    except KeepgateError as error:
        detour = _to_step_up(page, error, f"{SETUP}?flow={flow_id}&method={quote(method)}")
        if detour is not None:
            return detour
        if error.flow is None:
            return page.redirect(SETUP)
        return _settings_view(page, error.flow, status=status_for(error), error=error,
                              method=method)
    codes = outcome.revealed.get("recovery_codes")
    if codes:  # shown once, on this very page: never stored, never redirected to
        return page.render("recovery_codes.html", codes=codes,
                           download="\n".join(["Keepgate recovery codes", *codes, ""]))
    return page.redirect(f"{SETUP}?flow={outcome.flow.id}&method={quote(method)}")


@router.post("/account/security/recovery-codes")
async def regenerate(request: Request) -> Response:
    """Regenerating needs a fresh second factor: through the settings flow and its guard."""
    page = PageState(request)
    await page.check_csrf()
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    ctx = page_context(page)
    try:
        flow = await page.kg.flows.start(FlowKind.SETTINGS.value, Channel.BROWSER, ctx, principal)
        outcome = await page.kg.flows.submit(flow.id, Channel.BROWSER, "recovery_code",
                                             FactorSubmission(action="regenerate"), ctx,
                                             principal)
    except KeepgateError as error:
        detour = _to_step_up(page, error, "/account/security")
        if detour is not None:
            return detour
        return await _overview(page, principal, status=status_for(error), error=error)
    codes = outcome.revealed["recovery_codes"]
    return page.render("recovery_codes.html", codes=codes,
                       download="\n".join(["Keepgate recovery codes", *codes, ""]))


# Step-up ----------------------------------------------------------------------------------


@router.get("/account/step-up", response_class=HTMLResponse)
async def step_up(request: Request) -> Response:
    page = PageState(request)
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    ctx = page_context(page)
    nxt = _safe_next(request.query_params.get("next"))
    flow_id = request.query_params.get("flow")
    if not flow_id:
        try:
            flow = await page.kg.flows.start(FlowKind.STEP_UP.value, Channel.BROWSER, ctx,
                                             principal)
        except KeepgateError as error:  # no factor to step up with
            return await _overview(page, principal, status=status_for(error), error=error)
        return page.redirect(f"/account/step-up?flow={flow.id}&next={quote(nxt)}")
    try:
        flow = await page.kg.flows.get(flow_id, Channel.BROWSER, ctx, principal)
    except FlowError:
        return page.redirect(f"/account/step-up?next={quote(nxt)}")
    # errors belong to the answer that caused them, not to a later visit
    return _step_up_view(page, flow.evolve(
        messages=tuple(m for m in flow.messages if m.type != "error")), nxt)


def _step_up_view(page: PageState, flow: Flow, nxt: str, status: int = 200,
                  **extra: Any) -> Response:
    from keepgate.services.flows import methods_of

    webauthn = webauthn_options(flow)
    chosen = page.request.query_params.get("method") or (methods_of(flow) or ("",))[0]
    return page.render("step_up.html", status=status, flow=flow, methods=methods_of(flow),
                       chosen=chosen, next=nxt, labels=FACTOR_LABELS,
                       webauthn_json=json.dumps(webauthn) if webauthn else None, **extra)


@router.post("/account/step-up", response_class=HTMLResponse)
async def step_up_submit(request: Request) -> Response:
    page = PageState(request)
    fields = await page.check_csrf()
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    nxt = _safe_next(request.query_params.get("next"))
    flow_id = request.query_params.get("flow", "")
    try:
        outcome = await page.kg.flows.submit(flow_id, Channel.BROWSER, fields.get("method", ""),
                                             _factor_submission(fields), page_context(page),
                                             principal)
    except KeepgateError as error:
        if error.flow is None:
            return page.redirect(f"/account/step-up?next={quote(nxt)}")
        return _step_up_view(page, error.flow, nxt, status=status_for(error), error=error)
    if outcome.issued is not None:  # the token rotated with the assurance level
        response = page.redirect(nxt)
        max_age = int(page.kg.flows.policies.sessions.absolute_timeout.total_seconds())
        _set_cookie(response, page.kg, page.session_cookie, outcome.issued.token, max_age)
        return response
    return page.redirect(f"/account/step-up?flow={outcome.flow.id}&next={quote(nxt)}"
                         f"&method={quote(fields.get('method', ''))}")


# History and devices ----------------------------------------------------------------------


@router.get("/account/security/history", response_class=HTMLResponse)
async def history(request: Request) -> Response:
    page = PageState(request)
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    params = request.query_params
    before = params.get("before", "")
    outcome = params.get("outcome") if params.get("outcome") in ("success", "failure") else None
    entries, cursor = await page.kg.security.login_history(
        principal.account.id, before=small_int(before),
        outcome=outcome, limit=20)
    return page.render("security_history.html", entries=entries, cursor=cursor,
                       outcome=outcome or "", notice=params.get("notice"))


@router.post("/account/security/not-me")
async def not_me(request: Request) -> Response:
    page = PageState(request)
    await page.check_csrf()
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    await page.kg.security.not_me(principal, page_context(page))
    return page.redirect("/account/security?notice=secured")


@router.get("/account/security/devices", response_class=HTMLResponse)
async def devices(request: Request) -> Response:
    page = PageState(request)
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    views = await page.kg.security.devices(principal, page_context(page).device_token)
    return page.render("security_devices.html", devices=views,
                       notice=request.query_params.get("notice"))


@router.post("/account/security/devices/{device_id}/forget")
async def forget_device(device_id: str, request: Request) -> Response:
    page = PageState(request)
    await page.check_csrf()
    principal = await _principal(page)
    if principal is None:
        return page.redirect("/login")
    await page.kg.security.forget_device(principal, device_id, page_context(page))
    return page.redirect("/account/security/devices?notice=forgotten")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(request: Request) -> Response:
    page = PageState(request)
    await page.check_csrf()
    principal = await _principal(page)
    if principal is not None:
        await page.kg.security.sign_out_everywhere(principal, page_context(page))
    response = page.redirect("/login?notice=signed-out")
    response.delete_cookie(page.session_cookie, path="/", secure=page.kg.settings.secure_cookies,
                           httponly=True, samesite="lax")
    return response
