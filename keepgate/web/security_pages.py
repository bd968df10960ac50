"""The security centre's pages: overview, sign-in methods, step-up, history and devices, and the
pages behind the signed links we send ("this wasn't me", undo a contact change).

Every form posts with a CSRF token. A page for the signed-in owner sends anyone else to sign in.
An action that needs step-up sends the browser through the step-up page and back (``next``),
and a settings change that loses a race says so. Routes receive the page and the services
they call as typed dependencies (``web.deps``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import QueryParams

from keepgate.domain.errors import FlowError, KeepgateError, StepUpRequired
from keepgate.domain.factors import FACTOR_LABELS, FactorKind
from keepgate.domain.holds import HOLD_TEXT
from keepgate.domain.notices import MUTABLE_NOTICES
from keepgate.domain.principals import CustomerSession
from keepgate.flows.base import Channel, Flow, FlowKind
from keepgate.flows.context import webauthn_options
from keepgate.security.link_tokens import InvalidLinkToken
from keepgate.services.account import AccountServices
from keepgate.services.account.takeover import SignedLink, TakeoverReports
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.flows import FlowService, SubmitOutcome, methods_of
from keepgate.services.methods import FactorSubmission
from keepgate.web.deps import Account, Flows, Presenter, ServiceClock, Takeover
from keepgate.web.errors import status_for
from keepgate.web.pages import Page, PageState, country_picker_context, page_context
from keepgate.web.pages import factor_submission as _factor_submission
from keepgate.web.present import FlowPresenter
from keepgate.web.requests import request_context

router = APIRouter(include_in_schema=False)
NOTICE_LABELS = {
    "factor_added": "A sign-in method was added",
    "anti_phishing_changed": "Your anti-phishing code was changed",
    "recovery_codes_regenerated": "New recovery codes were made",
}
SECURITY = "/account/security"
SETUP = "/account/security/setup"


def small_int(text: str) -> int | None:
    """A form or query number: ASCII digits only (not '²'), and small enough for the database."""
    if text.isascii() and text.isdigit() and len(text) <= 15:
        return int(text)
    return None


def _safe_next(value: str | None, default: str = SECURITY) -> str:
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return default


# The signed-in owner's pages ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OwnerServices:
    """What the owner's pages call."""

    account: AccountServices
    flows: FlowService
    presenter: FlowPresenter
    clock: Clock


def _owner_services(account: Account, flows: Flows, presenter: Presenter,
                    clock: ServiceClock) -> OwnerServices:
    return OwnerServices(account, flows, presenter, clock)


Owner = Annotated[OwnerServices, Depends(_owner_services)]


@dataclass(frozen=True, slots=True)
class OwnerVisit:
    """A request from the signed-in owner: the page, who they are, the services the pages
    call and, for a POST, the fields of the form (its CSRF token already checked)."""

    page: PageState
    principal: CustomerSession
    fields: dict[str, str]
    services: OwnerServices

    @property
    def account(self) -> AccountServices:
        return self.services.account

    @property
    def flows(self) -> FlowService:
        return self.services.flows

    @property
    def ctx(self) -> RequestContext:
        return page_context(self.page)

    @property
    def query(self) -> QueryParams:
        return self.page.request.query_params

    def field(self, name: str, max_chars: int) -> str:
        return self.fields.get(name, "")[:max_chars]

    def path(self, name: str) -> str:
        return str(self.page.request.path_params[name])


OwnerView = Callable[[OwnerVisit], Awaitable[Response]]
OwnerAction = Callable[[OwnerVisit], Awaitable[object]]


def owner_page(method: str, path: str) -> Callable[[OwnerView], OwnerView]:
    """Registers ``view`` for the signed-in owner: a POST's CSRF token is checked first, and
    a visitor who is not signed in is sent to sign in."""

    def register(view: OwnerView) -> OwnerView:
        async def endpoint(page: Page, services: Owner) -> Response:
            fields = await page.check_csrf() if method == "POST" else {}
            principal = await page.principal()
            if principal is None:
                return page.redirect("/login")
            return await view(OwnerVisit(page, principal, fields, services))

        router.add_api_route(path, endpoint, methods=[method], name=view.__name__,
                             response_class=HTMLResponse)
        return view

    return register


# What a change posted from the overview keeps when step-up interrupts it: the form comes back
# filled with these fields (never a password: the person types it again) and a message.
Resumable = Callable[[OwnerVisit], Awaitable[dict[str, str]]]
RESUMED_FIELDS = ("code", "factor", "label", "muted")


async def _nothing_kept(visit: OwnerVisit) -> dict[str, str]:
    return {}


def settings_change(path: str, done: str, resume: Resumable = _nothing_kept
                    ) -> Callable[[OwnerAction], OwnerAction]:
    """Registers a change posted from the overview: back to it with ``?notice=done``, or with
    the refusal shown there. When step-up is what it takes, the browser goes through it and
    comes back to the form, filled with what ``resume`` keeps (``?resume=<done>``)."""

    def register(action: OwnerAction) -> OwnerAction:
        async def view(visit: OwnerVisit) -> Response:
            try:
                await action(visit)
            except KeepgateError as error:
                kept = await resume(visit)
                back = f"{SECURITY}?{urlencode({'resume': done, **kept})}"
                return await _refused(visit, error, back)
            return visit.page.redirect(f"{SECURITY}?notice={done}")

        view.__name__ = action.__name__
        owner_page("POST", path)(view)
        return action

    return register


def _to_step_up(page: PageState, error: KeepgateError, back: str) -> Response | None:
    """Step-up is a detour and back. A stale sign-in (no factor yet to step up with) is not:
    the page explains it, and the person signs out and in again from there."""
    if isinstance(error, StepUpRequired):
        return page.redirect(f"/account/step-up?next={quote(back)}")
    return None


async def _refused(visit: OwnerVisit, error: KeepgateError, back: str = SECURITY) -> Response:
    detour = _to_step_up(visit.page, error, back)
    if detour is not None:
        return detour
    return await _overview(visit, status=status_for(error), error=error)


# Overview and settings ----------------------------------------------------------------------


async def _overview(visit: OwnerVisit, status: int = 200, **extra: Any) -> Response:
    view = await visit.account.overview.overview(visit.principal)
    factors = await visit.account.factors.overview(visit.principal.account.id)
    now = visit.services.clock.now()
    holds = [{"text": HOLD_TEXT[h.reason], "until": h.expires_at,
              "left": _duration(h.expires_at - now)} for h in view.holds]
    return visit.page.render("security.html", status=status, view=view, factors=factors.factors,
                             labels=FACTOR_LABELS, holds=holds, notice_labels=NOTICE_LABELS,
                             mutable=sorted(MUTABLE_NOTICES), account=visit.principal.account,
                             notice=visit.query.get("notice"), **_resumed(visit), **extra)


def _resumed(visit: OwnerVisit) -> dict[str, Any]:
    """After step-up: which change to finish (``resume``) and what its form held."""
    kept = {name: visit.query.get(name, "")[:64] for name in RESUMED_FIELDS}
    return {"resume": visit.query.get("resume"), "kept": kept,
            "kept_muted": frozenset(kept["muted"].split(","))}


def _duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


@owner_page("GET", SECURITY)
async def security(visit: OwnerVisit) -> Response:
    return await _overview(visit)


async def _keep_code(visit: OwnerVisit) -> dict[str, str]:
    return {"code": visit.field("code", 20)}


async def _keep_factor(visit: OwnerVisit) -> dict[str, str]:
    return {"factor": visit.path("factor_id")[:64], "label": visit.field("label", 64)}


async def _keep_muted(visit: OwnerVisit) -> dict[str, str]:
    return {"muted": ",".join(sorted(set(await _muted(visit)) & MUTABLE_NOTICES))}


async def _muted(visit: OwnerVisit) -> list[str]:
    form = await visit.page.request.form()  # parsed once already, for the CSRF check
    return [str(v) for v in form.getlist("muted")][:10]


@settings_change(f"{SECURITY}/anti-phishing", "anti-phishing-saved", _keep_code)
async def anti_phishing(visit: OwnerVisit) -> None:
    await visit.account.notices.set_anti_phishing_code(
        visit.principal, visit.field("code", 64), visit.ctx,
        small_int(visit.fields.get("version", "")))


@settings_change(f"{SECURITY}/password", "password-changed")
async def password(visit: OwnerVisit) -> None:
    await visit.account.password.change(visit.principal, visit.field("current_password", 1024),
                                        visit.field("new_password", 1024), visit.ctx)


@settings_change(f"{SECURITY}/notifications", "notifications-saved", _keep_muted)
async def notifications(visit: OwnerVisit) -> None:
    await visit.account.notices.set_muted(visit.principal, await _muted(visit), visit.ctx)


@owner_page("GET", f"{SECURITY}/factors/{{factor_id}}/remove")
async def confirm_remove_factor(visit: OwnerVisit) -> Response:
    """Asks first; the POST acts. A factor not (or no longer) active: back to the overview."""
    factors = await visit.account.factors.overview(visit.principal.account.id)
    factor = next((f for f in factors.factors if f.id == visit.path("factor_id")), None)
    if factor is None:
        return visit.page.redirect(SECURITY)
    return visit.page.render("confirm.html", what="remove-factor", active="security",
                             factor=factor, action=f"{SECURITY}/factors/{quote(factor.id)}/remove",
                             back=f"{SECURITY}#factors")


@settings_change(f"{SECURITY}/factors/{{factor_id}}/remove", "factor-removed", _keep_factor)
async def remove_factor(visit: OwnerVisit) -> None:
    await visit.account.factors.remove(visit.principal, visit.path("factor_id"), visit.ctx)


@settings_change(f"{SECURITY}/factors/{{factor_id}}/rename", "factor-renamed", _keep_factor)
async def rename_factor(visit: OwnerVisit) -> None:
    await visit.account.factors.rename(visit.principal, visit.path("factor_id"),
                                       visit.field("label", 64), visit.ctx)


# Settings flow: enrol factors and change contacts -----------------------------------------


def _settings_view(visit: OwnerVisit, flow: Flow, status: int = 200, **extra: Any) -> Response:
    page = visit.page
    data = visit.services.presenter.public_data(flow)
    webauthn = webauthn_options(flow)
    form = visit.fields if visit.fields.get("method") == "contact" else None
    return page.render("security_setup.html", status=status, flow=flow, data=data,
                       webauthn_json=json.dumps(webauthn) if webauthn else None,
                       labels=FACTOR_LABELS, kinds=FactorKind, account=visit.principal.account,
                       form=form, **country_picker_context(page, form), **extra)


@owner_page("GET", SETUP)
async def setup(visit: OwnerVisit) -> Response:
    page, flows = visit.page, visit.flows
    flow_id = visit.query.get("flow")
    if not flow_id:
        flow = await flows.start(FlowKind.SETTINGS.value, Channel.BROWSER, visit.ctx,
                                 visit.principal)
        method = visit.query.get("method", "")
        if method == FactorKind.TOTP.value:
            await _show_totp_key(visit, flow)
        suffix = f"&method={quote(method)}" if method else ""
        return page.redirect(f"{SETUP}?flow={flow.id}{suffix}")
    try:
        flow = await flows.get(flow_id, Channel.BROWSER, visit.ctx, visit.principal)
    except FlowError:
        return page.redirect(SETUP)
    return _settings_view(visit, flow, method=visit.query.get("method", ""))


async def _show_totp_key(visit: OwnerVisit, flow: Flow) -> None:
    """An authenticator's key and QR code are shown without a click to ask for them. A refusal
    (a stale sign-in, say) is not shown here: the button left on the page meets it, explained."""
    with suppress(KeepgateError):
        await visit.flows.submit(flow.id, Channel.BROWSER, FactorKind.TOTP.value,
                                 FactorSubmission(), visit.ctx, visit.principal)


@owner_page("POST", SETUP)
async def setup_submit(visit: OwnerVisit) -> Response:
    page = visit.page
    flow_id = visit.query.get("flow", "")
    method = visit.fields.get("method", "")
    try:
        outcome: SubmitOutcome = await visit.flows.submit(
            flow_id, Channel.BROWSER, method, _factor_submission(visit.fields), visit.ctx,
            visit.principal)
    except KeepgateError as error:
        detour = _to_step_up(page, error, f"{SETUP}?flow={flow_id}&method={quote(method)}")
        if detour is not None:
            return detour
        if error.flow is None:
            return page.redirect(SETUP)
        return _settings_view(visit, error.flow, status=status_for(error), error=error,
                              method=method)
    codes = outcome.revealed.get("recovery_codes")
    if codes:  # shown once, on this very page: never stored, never redirected to
        return _recovery_codes(page, codes)
    return page.redirect(f"{SETUP}?flow={outcome.flow.id}&method={quote(method)}")


def _recovery_codes(page: PageState, codes: list[str]) -> Response:
    return page.render("recovery_codes.html", codes=codes)


@owner_page("POST", f"{SECURITY}/recovery-codes")
async def regenerate(visit: OwnerVisit) -> Response:
    """Regenerating needs a fresh second factor: through the settings flow and its guard."""
    flows, ctx = visit.flows, visit.ctx
    try:
        flow = await flows.start(FlowKind.SETTINGS.value, Channel.BROWSER, ctx, visit.principal)
        outcome = await flows.submit(flow.id, Channel.BROWSER, "recovery_code",
                                     FactorSubmission(action="regenerate"), ctx,
                                     visit.principal)
    except KeepgateError as error:
        return await _refused(visit, error)
    return _recovery_codes(visit.page, outcome.revealed["recovery_codes"])


# Step-up ----------------------------------------------------------------------------------


@owner_page("GET", "/account/step-up")
async def step_up(visit: OwnerVisit) -> Response:
    page, flows = visit.page, visit.flows
    nxt = _safe_next(visit.query.get("next"))
    flow_id = visit.query.get("flow")
    if not flow_id:
        try:
            flow = await flows.start(FlowKind.STEP_UP.value, Channel.BROWSER, visit.ctx,
                                     visit.principal)
        except KeepgateError as error:  # no factor to step up with
            return await _overview(visit, status=status_for(error), error=error)
        return page.redirect(f"/account/step-up?flow={flow.id}&next={quote(nxt)}")
    try:
        flow = await flows.get(flow_id, Channel.BROWSER, visit.ctx, visit.principal)
    except FlowError:
        return page.redirect(f"/account/step-up?next={quote(nxt)}")
    # errors belong to the answer that caused them, not to a later visit
    return _step_up_view(page, flow.evolve(
        messages=tuple(m for m in flow.messages if m.type != "error")), nxt)


def _step_up_view(page: PageState, flow: Flow, nxt: str, status: int = 200,
                  **extra: Any) -> Response:
    webauthn = webauthn_options(flow)
    chosen = page.request.query_params.get("method") or (methods_of(flow) or ("",))[0]
    return page.render("step_up.html", status=status, flow=flow, methods=methods_of(flow),
                       chosen=chosen, next=nxt, labels=FACTOR_LABELS,
                       webauthn_json=json.dumps(webauthn) if webauthn else None, **extra)


@owner_page("POST", "/account/step-up")
async def step_up_submit(visit: OwnerVisit) -> Response:
    page = visit.page
    nxt = _safe_next(visit.query.get("next"))
    flow_id = visit.query.get("flow", "")
    try:
        outcome = await visit.flows.submit(flow_id, Channel.BROWSER,
                                           visit.fields.get("method", ""),
                                           _factor_submission(visit.fields), visit.ctx,
                                           visit.principal)
    except KeepgateError as error:
        if error.flow is None:
            return page.redirect(f"/account/step-up?next={quote(nxt)}")
        return _step_up_view(page, error.flow, nxt, status=status_for(error), error=error)
    if outcome.issued is not None:  # the token rotated with the assurance level
        return page.signed_in(nxt, outcome.issued.token)
    return page.redirect(f"/account/step-up?flow={outcome.flow.id}&next={quote(nxt)}"
                         f"&method={quote(visit.fields.get('method', ''))}")


# History and devices ----------------------------------------------------------------------


@owner_page("GET", f"{SECURITY}/history")
async def history(visit: OwnerVisit) -> Response:
    outcome = visit.query.get("outcome")
    outcome = outcome if outcome in ("success", "failure") else None
    entries, cursor = await visit.account.history.page(
        visit.principal.account.id, before=visit.query.get("before") or None,
        outcome=outcome, limit=20)
    return visit.page.render("security_history.html", entries=entries, cursor=cursor,
                             outcome=outcome or "", notice=visit.query.get("notice"))


@owner_page("GET", f"{SECURITY}/not-me")
async def confirm_not_me(visit: OwnerVisit) -> Response:
    return visit.page.render("confirm.html", what="not-me", active="security",
                             action=f"{SECURITY}/not-me", back=f"{SECURITY}/history")


@owner_page("POST", f"{SECURITY}/not-me")
async def not_me(visit: OwnerVisit) -> Response:
    try:
        await visit.account.takeover.not_me(visit.principal, visit.ctx)
    except StepUpRequired:  # a stolen session must not evict the owner
        return visit.page.redirect(f"/account/step-up?next={quote(f'{SECURITY}/history')}")
    return visit.page.redirect(f"{SECURITY}?notice=secured")


@owner_page("GET", f"{SECURITY}/devices")
async def devices(visit: OwnerVisit) -> Response:
    views = await visit.account.devices.trusted(visit.principal, visit.ctx.device_token)
    return visit.page.render("security_devices.html", devices=views,
                             notice=visit.query.get("notice"))


@owner_page("GET", f"{SECURITY}/devices/{{device_id}}/forget")
async def confirm_forget_device(visit: OwnerVisit) -> Response:
    """Asks first; the POST acts. A device not (or no longer) trusted: back to the list."""
    views = await visit.account.devices.trusted(visit.principal, visit.ctx.device_token)
    view = next((v for v in views if v.device.id == visit.path("device_id")), None)
    if view is None:
        return visit.page.redirect(f"{SECURITY}/devices")
    action = f"{SECURITY}/devices/{quote(view.device.id)}/forget"
    return visit.page.render("confirm.html", what="forget-device", active="security",
                             device=view, action=action, back=f"{SECURITY}/devices")


@owner_page("GET", "/account/sign-out-everywhere")
async def confirm_sign_out_everywhere(visit: OwnerVisit) -> Response:
    return visit.page.render("confirm.html", what="sign-out-everywhere", active="security",
                             action="/account/sign-out-everywhere", back=f"{SECURITY}/devices")


@owner_page("POST", f"{SECURITY}/devices/{{device_id}}/forget")
async def forget_device(visit: OwnerVisit) -> Response:
    await visit.account.devices.forget(visit.principal, visit.path("device_id"), visit.ctx)
    return visit.page.redirect(f"{SECURITY}/devices?notice=forgotten")


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(page: Page, account: Account) -> Response:
    await page.check_csrf()
    principal = await page.principal()
    if principal is not None:
        try:
            await account.devices.sign_out_everywhere(principal, page_context(page))
        except StepUpRequired:  # a stolen session must not evict the owner
            return page.redirect(f"/account/step-up?next={quote(f'{SECURITY}/devices')}")
    return page.signed_out()


# Signed links: "this wasn't me" and undoing a contact change --------------------------------

FollowLink = Callable[[TakeoverReports, str, RequestContext], Awaitable[bool]]


async def _link_page(page: PageState, takeover: TakeoverReports, template: str,
                     link: SignedLink) -> Response:
    """GET only asks: mail scanners follow links."""
    token = page.request.query_params.get("token", "")
    try:
        takeover.check_link(link, token)
    except InvalidLinkToken:
        return page.render(template, status=400, valid=False, done=False, token="")
    return page.render(template, valid=True, done=False, token=token)


async def _link_followed(page: PageState, takeover: TakeoverReports, template: str,
                         follow: FollowLink, *, ends_session: bool) -> Response:
    """The POST acts; ``ends_session``: the browser's session cookie goes too."""
    fields = await page.check_csrf()
    try:
        done = await follow(takeover, fields.get("token", ""), request_context(page.request))
    except InvalidLinkToken:
        return page.render(template, status=400, valid=False, done=False, token="")
    response = page.render(template, status=200 if done else 409, valid=done, done=done,
                           token="")
    if done and ends_session:
        response.delete_cookie(page.session_cookie, path="/", httponly=True, samesite="lax",
                               secure=page.settings.secure_cookies)
    return response


@router.get("/not-me", response_class=HTMLResponse)
async def not_me_link(page: Page, takeover: Takeover) -> Response:
    """The link in a new-device message."""
    return await _link_page(page, takeover, "not_me.html", SignedLink.NOT_ME)


@router.post("/not-me", response_class=HTMLResponse)
async def not_me_link_followed(page: Page, takeover: Takeover) -> Response:
    return await _link_followed(page, takeover, "not_me.html", TakeoverReports.not_me_by_link,
                                ends_session=True)


@router.get("/undo-contact", response_class=HTMLResponse)
async def undo_contact_link(page: Page, takeover: Takeover) -> Response:
    """The link sent to the old address after a contact change."""
    return await _link_page(page, takeover, "undo_contact.html", SignedLink.UNDO_CONTACT)


@router.post("/undo-contact", response_class=HTMLResponse)
async def undo_contact_link_followed(page: Page, takeover: Takeover) -> Response:
    return await _link_followed(page, takeover, "undo_contact.html",
                                TakeoverReports.undo_contact_change, ends_session=False)
