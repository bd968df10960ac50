"""Server-rendered pages over the same flows as the API: cookies, CSRF, redirects.

Scripts are external modules only (passkeys, the CAPTCHA widget): the CSP forbids inline ones.
Each route receives its ``PageState`` (``Page``) and the services it calls as typed
dependencies (``web.deps``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from keepgate.config import Settings
from keepgate.domain.errors import (
    AuthenticationRequired,
    CsrfRejected,
    FlowError,
    KeepgateError,
    StepUpRequired,
)
from keepgate.domain.factors import FACTOR_LABELS
from keepgate.domain.identifiers import (
    COUNTRIES,
    country_from_accept_language,
    display_phone,
    known_country,
    phone_example,
)
from keepgate.domain.kyc import CAPABILITY_LABELS
from keepgate.domain.principals import CustomerSession
from keepgate.flows.base import COMPLETED, Channel, Flow, FlowKind
from keepgate.flows.context import sent_code, webauthn_options
from keepgate.flows.login import AWAITING_SECOND_FACTOR
from keepgate.security.csrf import CsrfTokens
from keepgate.security.errors import InvalidCsrfToken
from keepgate.services.context import RequestContext
from keepgate.services.devices import describe_device
from keepgate.services.flows import FlowService, SubmitOutcome, methods_of
from keepgate.services.methods import (
    CodeSubmission,
    FactorSubmission,
    IdentifierSubmission,
    NewPasswordSubmission,
    PasswordSubmission,
    Submission,
)
from keepgate.services.sessions import SessionService
from keepgate.web import local_time
from keepgate.web.branding import brand_css
from keepgate.web.deps import (
    Access,
    AppSettings,
    Csrf,
    Defences,
    Flows,
    Limits,
    Outbox,
    Presenter,
    Sessions,
    keepgate_of,
)
from keepgate.web.errors import status_for
from keepgate.web.present import FlowPresenter
from keepgate.web.requests import request_context

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["phone"] = display_phone  # numbers are shown formatted, never in E.164
templates.env.filters["device"] = describe_device  # "Chrome on macOS", from a user agent
templates.env.filters.update(local_time.FILTERS)  # times in the customer's zone
# Whether a flow holds a sent code for a method: read through the flow's typed accessor.
templates.env.tests["code_sent_for"] = lambda flow, method: sent_code(flow, method).sent
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class FlowPage:
    """A public flow's page: where it lives, its template, and where a finished one goes."""

    kind: FlowKind
    path: str
    template: str
    done: str | None  # after completion, signed in; None: the finished flow's own page says
    # what next


SIGNUP = FlowPage(FlowKind.REGISTRATION, "/signup", "signup.html", "/account")
LOGIN = FlowPage(FlowKind.LOGIN, "/login", "login.html", "/account")
RECOVER = FlowPage(FlowKind.RECOVERY, "/recover", "recover.html", None)
NOTICES = frozenset({"signed-out"})
THEME_COOKIE = "keepgate_theme"  # "light" or "dark"; none: the system's preference
THEMES = ("light", "dark", "system")
ONE_YEAR = 365 * 24 * 3600


def cookie_names(settings: Settings) -> tuple[str, str]:
    """``__Host-`` cookies cannot be set by a sibling subdomain; they need Secure (HTTPS)."""
    prefix = "__Host-" if settings.secure_cookies else ""
    return f"{prefix}keepgate_session", f"{prefix}keepgate_csrf"


def device_cookie(settings: Settings) -> str:
    return f"{'__Host-' if settings.secure_cookies else ''}keepgate_device"


def page_context(page: PageState) -> RequestContext:
    ctx = request_context(page.request, page.binding)
    token = page.request.cookies.get(device_cookie(page.settings))
    return replace(ctx, device_token=token[:128] if token else None)


class PageState:
    """Per-request page plumbing: the CSRF cookie (made on first sight) and the signed-in user."""

    def __init__(self, request: Request, *, settings: Settings, csrf: CsrfTokens,
                 sessions: SessionService) -> None:
        self.request = request
        self.settings = settings
        self.sessions = sessions
        self._csrf = csrf
        self.session_cookie, self.csrf_cookie = cookie_names(settings)
        existing = request.cookies.get(self.csrf_cookie)
        self.new_csrf = existing is None or len(existing) > 100
        self.csrf_value = CsrfTokens.new_cookie_value() if self.new_csrf else str(existing)

    @classmethod
    def outside_routes(cls, request: Request) -> PageState:
        """For error pages, drawn where no route's dependencies were resolved."""
        kg = keepgate_of(request)
        return cls(request, settings=kg.settings, csrf=kg.csrf, sessions=kg.sessions)

    @property
    def csrf_token(self) -> str:
        return self._csrf.token_for(self.csrf_value)

    @property
    def binding(self) -> str:
        return CsrfTokens.binding(self.csrf_value)

    def set_cookie(self, response: Response, name: str, value: str,
                   max_age: int | None = None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                            samesite="lax", secure=self.settings.secure_cookies)

    def finish(self, response: Response) -> Response:
        if self.new_csrf:
            self.set_cookie(response, self.csrf_cookie, self.csrf_value)
        return response

    async def check_csrf(self) -> dict[str, str]:
        form = await self.request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        try:
            self._csrf.verify(None if self.new_csrf else self.csrf_value,
                                fields.get("csrf_token"))
        except InvalidCsrfToken:
            raise CsrfRejected() from None
        return fields

    async def principal(self) -> CustomerSession | None:
        try:
            return await self.sessions.authenticate(
                self.request.cookies.get(self.session_cookie))
        except AuthenticationRequired:
            return None

    @property
    def theme(self) -> str:
        chosen = self.request.cookies.get(THEME_COOKIE)
        return chosen if chosen in ("light", "dark") else "system"

    def render(self, name: str, status: int = 200, **context: Any) -> Response:
        context.setdefault("csrf_token", self.csrf_token)
        context.setdefault("dev_outbox", self.settings.dev_outbox)
        context.setdefault("brand", self.settings.brand)
        context.setdefault("passkeys_available", self.settings.passkeys_available)
        context.setdefault("theme", self.theme)
        zone, zone_name = local_time.zone_named(self.request.cookies.get(local_time.TZ_COOKIE))
        context.setdefault("zone", zone)
        context.setdefault("zone_name", zone_name)
        response = templates.TemplateResponse(self.request, name, context, status_code=status)
        return self.finish(response)

    def redirect(self, url: str) -> Response:
        return self.finish(RedirectResponse(url, status_code=303))

    def signed_in(self, url: str, token: str) -> Response:
        """To ``url`` with the new session's cookie, for the session's absolute lifetime."""
        response = self.redirect(url)
        max_age = int(self.sessions.policy.absolute_timeout.total_seconds())
        self.set_cookie(response, self.session_cookie, token, max_age)
        return response

    def signed_out(self) -> Response:
        """To the sign-in page, the session cookie gone."""
        response = self.redirect("/login?notice=signed-out")
        response.delete_cookie(self.session_cookie, path="/",
                               secure=self.settings.secure_cookies, httponly=True,
                               samesite="lax")
        return response


def _page_state(request: Request, settings: AppSettings, csrf: Csrf,
                sessions: Sessions) -> PageState:
    return PageState(request, settings=settings, csrf=csrf, sessions=sessions)


Page = Annotated[PageState, Depends(_page_state)]


def render_page_error(request: Request, status: int, code: str, message: str) -> Response:
    page = PageState.outside_routes(request)
    return page.render("error.html", status=status, code=code, message=message, theme_back="/")


CAPTCHA_MAX_CHARS = 4097  # longer than any solution the gate accepts: refused, not cut


def _captcha(fields: dict[str, str]) -> str | None:
    return fields.get("captcha", "")[:CAPTCHA_MAX_CHARS] or None


def factor_submission(fields: dict[str, str]) -> FactorSubmission:
    """A second factor, a device code, a passkey or an enrolment step, from a posted form.

    ``credential`` is the browser's WebAuthn answer as JSON text (webauthn.js): anything that
    is not a JSON object becomes ``{}``, which the method refuses like any wrong answer.
    """
    credential: dict[str, Any] | None = None
    raw = fields.get("credential", "")
    if raw:
        try:
            parsed = json.loads(raw[:65536])
        except (ValueError, RecursionError):  # garbage, or nesting deep enough to blow up
            parsed = None
        credential = parsed if isinstance(parsed, dict) else {}
    return FactorSubmission(
        code=fields.get("code", "")[:64] or None, action=fields.get("action", "verify")[:16],
        credential=credential, name=fields.get("name", "")[:64] or None,
        passkey=None if "passkey" not in fields else fields.get("passkey") == "yes",
        captcha=_captcha(fields),
        kind=fields.get("kind") or None, value=(fields.get("value") or "")[:254] or None,
        country=fields.get("country", "")[:2] or None,
        password=fields.get("password", "")[:1024] or None)


def _submission(fields: dict[str, str]) -> tuple[str, Submission]:
    method = fields.get("method", "")[:32]
    if method == "password":
        return method, PasswordSubmission(fields.get("identifier", "")[:254],
                                          fields.get("password", "")[:1024],
                                          fields.get("accept_terms") == "yes",
                                          captcha=_captcha(fields),
                                          country=fields.get("country", "")[:2] or None)
    if method == "code":  # the sign-up or reset code
        return method, CodeSubmission(fields.get("code", "")[:32], fields.get("action", "verify"))
    if method == "identifier":  # where a reset code goes
        return method, IdentifierSubmission(fields.get("identifier", "")[:254],
                                            captcha=_captcha(fields))
    if method == "new_password":
        return method, NewPasswordSubmission(fields.get("password", "")[:1024])
    # device_code, the second factors and passkeys: the methods expect a FactorSubmission
    return method, factor_submission(fields)


@dataclass(frozen=True, slots=True)
class FlowPageKit:
    """What the public flow pages use besides the page itself."""

    flows: FlowService
    presenter: FlowPresenter
    device_trust: timedelta  # how long a device confirmed at sign-in stays trusted


def _flow_page_kit(flows: Flows, presenter: Presenter, defences: Defences) -> FlowPageKit:
    return FlowPageKit(flows, presenter, defences.device_trust)


FlowKit = Annotated[FlowPageKit, Depends(_flow_page_kit)]


def _flow_view(page: PageState, presenter: FlowPresenter, template: str, flow: Flow, *,
               status: int = 200, method: str | None = None, **extra: Any) -> Response:
    """A flow's page in its current state. ``method`` picks the second factor shown (the
    others are offered as "try another way"); by default the strongest one enrolled."""
    methods = methods_of(flow)
    offered = [m for m in methods if m != "captcha"]
    chosen = method if method in offered else (offered[0] if offered else "")
    options = webauthn_options(flow)
    return page.render(template, status=status, flow=flow, data=presenter.public_data(flow),
                       methods=methods, chosen=chosen, labels=FACTOR_LABELS, next=None,
                       webauthn_json=json.dumps(options) if options else None,
                       **country_picker_context(page, extra.get("form")), **extra)


EXAMPLE_COUNTRY = "GB"  # the hint's example when the browser names no region


def country_picker_context(page: PageState, form: dict[str, str] | None) -> dict[str, Any]:
    """A phone field's country picker: the one submitted, else the browser's region."""
    chosen = known_country((form or {}).get("country")) or country_from_accept_language(
        page.request.headers.get("accept-language", "")[:200])
    example = phone_example(chosen or EXAMPLE_COUNTRY) or phone_example(EXAMPLE_COUNTRY)
    return {"countries": COUNTRIES, "country": chosen, "phone_example": example}


async def _flow_page(page: PageState, kit: FlowPageKit, flow_page: FlowPage) -> Response:
    request = page.request
    template = flow_page.template
    if await page.principal() is not None:
        return page.redirect("/account")
    flow_id = request.query_params.get("flow")
    if not flow_id:
        flow = await kit.flows.start(flow_page.kind.value, Channel.BROWSER,
                                     request_context(request, page.binding))
        query = {"flow": flow.id}
        notice = request.query_params.get("notice")
        if notice in NOTICES:  # "signed out": shown on the flow's page
            query["notice"] = notice
        return page.redirect(f"{flow_page.path}?{urlencode(query)}")
    try:
        flow = await kit.flows.get(flow_id, Channel.BROWSER,
                                   request_context(request, page.binding))
    except FlowError as error:
        return page.render(template, status=status_for(error), flow=None, restart=error.message)
    # An error the flow remembers was shown with the answer to the attempt that caused it;
    # shown again later (after "try another way", say) it would read as a new one.
    fresh = flow.evolve(messages=tuple(m for m in flow.messages if m.type != "error"))
    return _flow_view(page, kit.presenter, template, fresh,
                      method=request.query_params.get("method"),
                      notice=request.query_params.get("notice"))


async def _flow_submit(page: PageState, kit: FlowPageKit, flow_page: FlowPage) -> Response:
    template = flow_page.template
    fields = await page.check_csrf()
    flow_id = page.request.query_params.get("flow", "")
    ctx = page_context(page)
    method, submission = _submission(fields)
    try:
        outcome = await kit.flows.submit(flow_id, Channel.BROWSER, method, submission, ctx)
    except KeepgateError as error:
        flow = error.flow
        if flow is None:  # refused before the step (a method the state does not offer...)
            try:  # ...but the flow goes on: show it as it is, with the error
                flow = await kit.flows.get(flow_id, Channel.BROWSER, ctx)
            except FlowError:
                return page.render(template, status=status_for(error), flow=None,
                                   restart=error.message)
        return _flow_view(page, kit.presenter, template, flow, status=status_for(error),
                          method=method, error=error, form=fields)
    response = await _after_submit(page, flow_page, outcome, ctx, method)
    if outcome.device_token is not None:  # remembered for 30 days
        trust = int(kit.device_trust.total_seconds())
        page.set_cookie(response, device_cookie(page.settings), outcome.device_token, trust)
    return response


async def _after_submit(page: PageState, flow_page: FlowPage, outcome: SubmitOutcome,
                        ctx: RequestContext, method: str) -> Response:
    if outcome.issued is not None:
        previous = await page.principal()
        if previous is not None and previous.session.id != outcome.issued.session.id:
            await page.sessions.logout(previous, ctx)  # a browser holds one session
        return page.signed_in(flow_page.done or "/account", outcome.issued.token)
    if outcome.flow.state == COMPLETED and flow_page.done is not None:
        return page.redirect(flow_page.done)
    url = f"{flow_page.path}?flow={outcome.flow.id}"
    if outcome.flow.state == AWAITING_SECOND_FACTOR and method in methods_of(outcome.flow):
        url += f"&method={quote(method)}"  # a code was sent: stay on that factor's form
    return page.redirect(url)


@router.get("/")
async def home(page: Page) -> Response:
    return page.redirect("/account" if await page.principal() else "/login")


@router.get("/signup", response_class=HTMLResponse)
async def signup(page: Page, kit: FlowKit) -> Response:
    return await _flow_page(page, kit, SIGNUP)


@router.post("/signup", response_class=HTMLResponse)
async def signup_submit(page: Page, kit: FlowKit) -> Response:
    return await _flow_submit(page, kit, SIGNUP)


@router.get("/login", response_class=HTMLResponse)
async def login(page: Page, kit: FlowKit) -> Response:
    return await _flow_page(page, kit, LOGIN)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(page: Page, kit: FlowKit) -> Response:
    return await _flow_submit(page, kit, LOGIN)


@router.get("/recover", response_class=HTMLResponse)
async def recover(page: Page, kit: FlowKit) -> Response:
    return await _flow_page(page, kit, RECOVER)


@router.post("/recover", response_class=HTMLResponse)
async def recover_submit(page: Page, kit: FlowKit) -> Response:
    return await _flow_submit(page, kit, RECOVER)


@router.get("/brand.css")
async def brand_stylesheet(settings: AppSettings) -> Response:
    """The brand colour as custom properties (``web.branding``): a stylesheet, since the CSP
    allows no inline style."""
    return Response(brand_css(settings.brand), media_type="text/css")


def safe_back(value: str | None, default: str = "/") -> str:
    """A path on this site to return to: never another origin (``//host``, ``/\\host``)."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) \
            and "\\" not in value and len(value) <= 2048:
        return value
    return default


@router.post("/theme")
async def choose_theme(page: Page) -> Response:
    """The theme switch in every page's footer: light, dark or the system's; a cookie keeps it."""
    fields = await page.check_csrf()
    response = page.redirect(safe_back(fields.get("back")))
    chosen = fields.get("theme")
    if chosen in ("light", "dark"):
        page.set_cookie(response, THEME_COOKIE, chosen, ONE_YEAR)
    else:
        response.delete_cookie(THEME_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=page.settings.secure_cookies)
    return response


@router.get("/terms", response_class=HTMLResponse)
async def terms(page: Page) -> Response:
    return page.render("terms.html")


async def _signed_in(page: PageState) -> CustomerSession:
    principal = await page.principal()
    if principal is None:
        raise AuthenticationRequired()
    return principal


@router.get("/account", response_class=HTMLResponse)
async def account(page: Page, access: Access, limits: Limits) -> Response:
    principal = await page.principal()
    if principal is None:
        return page.redirect("/login")
    current = principal.account
    policy = access.tiers
    return page.render("account.html", account=current, tier=policy.tier(current.kyc_tier),
                       tiers=policy.tiers, labels=CAPABILITY_LABELS, session=principal.session,
                       tier_status=await limits.status(current.id))


@router.get("/account/verify", response_class=HTMLResponse)
async def verify(page: Page, access: Access) -> Response:
    """Where the restricted banner's "Verify your identity" leads: what verification takes and
    unlocks; identity checks themselves are not offered online yet, and the page says so."""
    principal = await page.principal()
    if principal is None:
        return page.redirect("/login")
    current = principal.account
    return page.render("verify.html", account=current, tiers=access.tiers.tiers,
                       labels=CAPABILITY_LABELS)


@router.get("/account/sessions", response_class=HTMLResponse)
async def sessions_page(page: Page) -> Response:
    principal = await page.principal()
    if principal is None:
        return page.redirect("/login")
    sessions = await page.sessions.list_active(principal.account.id)
    return page.render("sessions.html", sessions=sessions, current_id=principal.session.id,
                       notice=page.request.query_params.get("notice"))


@router.get("/account/sessions/revoke-others", response_class=HTMLResponse)
async def confirm_revoke_others(page: Page) -> Response:
    """Asks first; the POST below acts."""
    if await page.principal() is None:
        return page.redirect("/login")
    return page.render("confirm.html", what="revoke-others", active="sessions",
                       action="/account/sessions/revoke-others", back="/account/sessions")


@router.get("/account/sessions/{session_id}/revoke", response_class=HTMLResponse)
async def confirm_revoke_one(session_id: str, page: Page) -> Response:
    """Asks first; the POST below acts. A session not (or no longer) listed: back to the list."""
    principal = await page.principal()
    if principal is None:
        return page.redirect("/login")
    listed = await page.sessions.list_active(principal.account.id)
    session = next((s for s in listed if s.id == session_id), None)
    if session is None:
        return page.redirect("/account/sessions")
    return page.render("confirm.html", what="revoke-session", active="sessions",
                       session=session, current=session.id == principal.session.id,
                       action=f"/account/sessions/{quote(session.id)}/revoke",
                       back="/account/sessions")


@router.post("/account/sessions/revoke-others")
async def revoke_others(page: Page) -> Response:
    await page.check_csrf()
    principal = await _signed_in(page)
    try:
        count = await page.sessions.revoke_others(principal, request_context(page.request))
    except StepUpRequired:  # a stolen session must not evict the owner
        return page.redirect(f"/account/step-up?next={quote('/account/sessions')}")
    return page.redirect(f"/account/sessions?notice=revoked-{count}")


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_one(session_id: str, page: Page) -> Response:
    await page.check_csrf()
    principal = await _signed_in(page)
    try:
        await page.sessions.revoke(principal, session_id, request_context(page.request))
    except StepUpRequired:
        return page.redirect(f"/account/step-up?next={quote('/account/sessions')}")
    if session_id == principal.session.id:
        return page.signed_out()
    return page.redirect("/account/sessions?notice=revoked-1")


@router.post("/logout")
async def logout(page: Page) -> Response:
    await page.check_csrf()
    principal = await page.principal()
    if principal is not None:
        await page.sessions.logout(principal, request_context(page.request))
    return page.signed_out()


dev_router = APIRouter(include_in_schema=False)


@dev_router.get("/dev/messages", response_class=HTMLResponse)
async def dev_messages(page: Page, outbox: Outbox) -> Response:
    """Mounted only in development while no SMTP server or SMS gateway is configured."""
    return page.render("dev_messages.html", messages=await outbox.recent(50))


@dev_router.get("/dev/messages.json")
async def dev_messages_json(outbox: Outbox) -> dict[str, list[dict[str, Any]]]:
    """The same outbox for scripts (the README's ``curl`` walkthrough reads its codes here)."""
    return {"messages": [{"id": m.id, "channel": m.channel, "destination": m.destination,
                          "template": m.template, "subject": m.subject, "body": m.body,
                          "created_at": m.created_at.isoformat(), "status": m.status}
                         for m in await outbox.recent(50)]}
