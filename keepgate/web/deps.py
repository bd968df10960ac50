"""Typed dependencies: what a route needs, by name, never the composition root itself.

Only this module reads the running ``Keepgate`` off the application; routes declare
``Current`` (the signed-in customer), ``Require(action)`` (the same, allowed to take
``action``), and the services they call (``Flows``, ``Sessions``, ``Account``, …).

=================  =========================================================================
``Current``        the customer signed in with the bearer token; 401 (audited) without one
``MaybeCurrent``   the same, or None when no token is sent (sign-in and sign-up)
``Require(a)``     ``Current``, once ``domain.access.authorize`` allows action ``a``
``Flows``          ``FlowService``          ``Sessions``   ``SessionService``
``Account``        ``AccountServices``      ``Access``     ``AccessService``
``Limits``         ``LimitService``         ``Decisions``  ``DecisionService``
``Presenter``      what a flow shows its client (``web.present.FlowPresenter``)
``Now``            the service clock's time, as the request starts; ``ServiceClock`` the clock
``AppSettings``    the settings; ``Csrf``, ``Defences``, ``Outbox``, ``Takeover`` likewise
``ServiceClientsDep``  service clients; ``Decisions``, ``Limits`` the decision API's ports
=================  =========================================================================
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from keepgate.config import Settings
from keepgate.domain.access import Action
from keepgate.domain.errors import AuthenticationRequired
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.principals import CustomerSession
from keepgate.security.csrf import CsrfTokens
from keepgate.services.access import AccessService
from keepgate.services.account import AccountServices
from keepgate.services.account.takeover import TakeoverReports
from keepgate.services.clock import Clock
from keepgate.services.context import RequestContext
from keepgate.services.decisions import DecisionService
from keepgate.services.flows import FlowService
from keepgate.services.limits import LimitService
from keepgate.services.outbox import OutboxWorker
from keepgate.services.service_clients import ServiceClients
from keepgate.services.sessions import SessionService
from keepgate.web.present import FlowPresenter
from keepgate.wiring import Keepgate


def keepgate_of(request: Request) -> Keepgate:
    """The running services; for code outside a route's dependencies (error pages)."""
    kg: Keepgate = request.app.state.keepgate
    return kg


Services = Annotated[Keepgate, Depends(keepgate_of)]


def _settings(kg: Services) -> Settings:
    return kg.settings


def _csrf(kg: Services) -> CsrfTokens:
    return kg.csrf


def _flows(kg: Services) -> FlowService:
    return kg.flows


def _sessions(kg: Services) -> SessionService:
    return kg.sessions


def _account(kg: Services) -> AccountServices:
    return kg.account


def _takeover(kg: Services) -> TakeoverReports:
    return kg.account.takeover


def _access(kg: Services) -> AccessService:
    return kg.access


def _limits(kg: Services) -> LimitService:
    return kg.limits


def _decisions(kg: Services) -> DecisionService:
    return kg.decisions


def _defences(kg: Services) -> DefencePolicy:
    return kg.defences.policy


def _outbox(kg: Services) -> OutboxWorker:
    return kg.outbox


def _service_clients(kg: Services) -> ServiceClients:
    return kg.service_clients


def presenter_of(kg: Keepgate) -> FlowPresenter:
    return FlowPresenter(policies=kg.flows.policies, captcha=kg.captcha, keyring=kg.keyring,
                         issuer=kg.settings.brand.name)


def _presenter(kg: Services) -> FlowPresenter:
    return presenter_of(kg)


def _clock(kg: Services) -> Clock:
    return kg.clock


def _now(kg: Services) -> datetime:
    return kg.clock.now()


AppSettings = Annotated[Settings, Depends(_settings)]
Csrf = Annotated[CsrfTokens, Depends(_csrf)]
Flows = Annotated[FlowService, Depends(_flows)]
Sessions = Annotated[SessionService, Depends(_sessions)]
Account = Annotated[AccountServices, Depends(_account)]
Takeover = Annotated[TakeoverReports, Depends(_takeover)]
Access = Annotated[AccessService, Depends(_access)]
Limits = Annotated[LimitService, Depends(_limits)]
Decisions = Annotated[DecisionService, Depends(_decisions)]
Defences = Annotated[DefencePolicy, Depends(_defences)]
Outbox = Annotated[OutboxWorker, Depends(_outbox)]
Presenter = Annotated[FlowPresenter, Depends(_presenter)]
Now = Annotated[datetime, Depends(_now)]
ServiceClock = Annotated[Clock, Depends(_clock)]
ServiceClientsDep = Annotated[ServiceClients, Depends(_service_clients)]

bearer = HTTPBearer(auto_error=False, description="A session token from a completed sign-in")
Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _context(request: Request) -> RequestContext:
    from keepgate.web.requests import request_context  # it reads the settings through here

    return request_context(request)


async def _current(request: Request, sessions: Sessions, access: Access,
                   credentials: Bearer) -> CustomerSession:
    """The bearer token's session; a request without a valid one is audited (rate-limited)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        await access.record_unauthenticated(_context(request), request.url.path,
                                            "no_token")
        raise AuthenticationRequired()
    try:
        return await sessions.authenticate(credentials.credentials)
    except AuthenticationRequired:
        await access.record_unauthenticated(_context(request), request.url.path,
                                            "invalid_token")
        raise


async def _maybe_current(request: Request, sessions: Sessions, access: Access,
                         credentials: Bearer) -> CustomerSession | None:
    """Sign-in and sign-up need no session; settings and step-up flows belong to one."""
    if credentials is None:
        return None
    return await _current(request, sessions, access, credentials)


Current = Annotated[CustomerSession, Depends(_current)]
MaybeCurrent = Annotated[CustomerSession | None, Depends(_maybe_current)]


def Require(action: Action) -> Any:
    """``Annotated[CustomerSession, Require(Action.X)]``: the signed-in customer, allowed ``X``.

    For routes whose service does not ask ``services.access`` itself: a decision is made once.
    """

    async def allowed(request: Request, current: Current, access: Access) -> CustomerSession:
        await access.require(current, action, _context(request))
        return current

    return Depends(allowed)
