"""The JSON API (``/api/v1``): flows for apps and services, the account, its sessions.

Routes receive the signed-in customer and the services they call as typed dependencies
(``web.deps``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response
from fastapi.routing import APIRoute

from keepgate.domain.errors import FlowNotFound, RequestRejected, UnsupportedMediaType
from keepgate.flows.base import Channel, Flow, FlowKind
from keepgate.flows.registry import spec_for
from keepgate.services.context import RequestContext
from keepgate.services.effects import IssuedSession
from keepgate.web.deps import (
    Access,
    Account,
    Current,
    Flows,
    MaybeCurrent,
    Presenter,
    Sessions,
)
from keepgate.web.present import FlowPresenter
from keepgate.web.requests import request_context
from keepgate.web.schemas import (
    ErrorOut,
    FactorsOut,
    FlowOut,
    FlowSubmission,
    MeOut,
    RevokedOut,
    SessionsOut,
    factor_out,
    flow_out,
    me_out,
    session_out,
    to_submission,
)

DEVICE_HEADER = "X-Keepgate-Device"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again",
                               "schema": {"type": "integer", "minimum": 0}}}
UNAUTHENTICATED = {"WWW-Authenticate": {"description": "`Bearer realm=\"keepgate\"`",
                                        "schema": {"type": "string"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route can give, each an ``ErrorOut``, with the headers they carry."""
    headers = {429: RETRY_AFTER, 401: UNAUTHENTICATED}
    return {status: {"model": ErrorOut, **({"headers": headers[status]}
                                            if status in headers else {})}
            for status in statuses}


# What every route with a JSON body may answer besides its own errors: malformed JSON (400),
# too large (413), not JSON (415), invalid fields (422).
BODY_ERRORS = (400, 413, 415, 422)
ERRORS = errors(400, 401, 403, 404, 409, 410, 413, 415, 422, 429)
BEARER: dict[str, list[str]] = {"HTTPBearer": []}
OPTIONAL_BEARER = {"security": [{}, BEARER]}  # OpenAPI: no token, or a bearer token
router = APIRouter(prefix="/api/v1")

DeviceToken = Annotated[str | None, Header(
    alias=DEVICE_HEADER, description="A trusted device's token (the `device_token` of an "
    "earlier answer): its sign-ins skip the new-device code")]


def context(request: Request) -> RequestContext:
    """The request's context with the trusted-device token the client sent, if any."""
    ctx = request_context(request)
    device = request.headers.get(DEVICE_HEADER)
    return replace(ctx, device_token=device[:128] if device else None)


def _context(request: Request, device: DeviceToken = None) -> RequestContext:
    return context(request)


Context = Annotated[RequestContext, Depends(_context)]


def require_json(request: Request) -> None:
    """A route that takes a JSON body refuses any other content type with one answer (415)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None:
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()


def present(presenter: FlowPresenter, outcome_flow: Flow, issued: IssuedSession | None = None,
            device_token: str | None = None, revealed: dict[str, Any] | None = None) -> FlowOut:
    data = presenter.public_data(outcome_flow)
    data.update(revealed or {})
    return flow_out(outcome_flow, data, issued, device_token)


@router.get("/flows/{flow_id}", response_model=FlowOut, summary="Read a flow",
            responses=errors(401, 404, 410), openapi_extra=OPTIONAL_BEARER)
async def get_flow(flow_id: str, ctx: Context, current: MaybeCurrent, flows: Flows,
                   presenter: Presenter) -> FlowOut:
    flow = await flows.get(flow_id, Channel.API, ctx, current)
    return present(presenter, flow)


def body_not_allowed() -> RequestRejected:
    return RequestRejected(details={"errors": [{
        "field": "", "type": "body_not_allowed",
        "problem": "Starting a flow takes no body: submit methods to POST /api/v1/flows/{id}."}]})


def _start_route(kind: FlowKind) -> None:
    signed_in = spec_for(kind).signed_in

    async def start_flow(request: Request, ctx: Context, current: MaybeCurrent, flows: Flows,
                         presenter: Presenter) -> FlowOut:
        if await request.body():
            raise body_not_allowed()
        return present(presenter, await flows.start(kind.value, Channel.API, ctx, current))

    router.add_api_route(
        f"/flows/{kind.value}", start_flow, methods=["POST"], status_code=201,
        response_model=FlowOut, name=f"start_{kind.value}", tags=["flows"],
        summary=f"Start a {kind.value.replace('_', '-')} flow",
        description="Takes no body. " + ("Needs a bearer token: the flow belongs to its "
                                         "session." if signed_in else "Needs no session."),
        responses=errors(*((401, 409, 413, 422) if signed_in else (401, 413, 422))),
        openapi_extra=None if signed_in else OPTIONAL_BEARER)


for _kind in FlowKind:  # before the submit route: /flows/login is a kind, not an id
    _start_route(_kind)


FLOW_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _flow_to_submit(request: Request, flow_id: Annotated[str, Path(
        description="The id of a flow this client started")]) -> str:
    """A submission's flow: anything but a flow id (an unknown kind, a kind in the wrong case)
    is no flow (404), whatever the body; then the body must be JSON (415)."""
    if not FLOW_ID.fullmatch(flow_id):
        raise FlowNotFound()
    require_json(request)
    return flow_id


FlowToSubmit = Annotated[str, Depends(_flow_to_submit)]


@router.post(
    "/flows/{flow_id}", response_model=FlowOut, tags=["flows"],
    summary="Submit a method to a flow",
    description=(
        "`{\"method\": …, fields}`. A completed sign-in answers `state: completed` with a "
        "`session` whose `token` is the bearer token. A refused submission answers an error "
        "with the flow as it now is (`flow`): read `methods` and `data` there."),
    responses=errors(401, 403, 404, 409, 410, 429, *BODY_ERRORS),
    openapi_extra=OPTIONAL_BEARER,
)
async def submit_flow(flow_id: FlowToSubmit, body: Annotated[FlowSubmission, Body()],
                      ctx: Context, current: MaybeCurrent, flows: Flows,
                      presenter: Presenter) -> FlowOut:
    outcome = await flows.submit(flow_id, Channel.API, body.method, to_submission(body),
                                 ctx, current)
    return present(presenter, outcome.flow, outcome.issued, outcome.device_token, outcome.revealed)


@router.get("/me", response_model=MeOut, summary="The signed-in account",
            responses=errors(401))
async def me(current: Current, access: Access) -> MeOut:
    return me_out(current.account, current.session,
                  access.tiers.tier(current.account.kyc_tier).capabilities)


@router.get("/sessions", response_model=SessionsOut, summary="My active sessions",
            responses=errors(401))
async def list_sessions(current: Current, sessions: Sessions) -> SessionsOut:
    active = await sessions.list_active(current.account.id)
    return SessionsOut(sessions=[session_out(s, current.session.id) for s in active])


@router.delete("/sessions/{session_id}", status_code=204, summary="End one of my sessions",
               responses=errors(401, 403, 404))
async def revoke_session(session_id: str, request: Request, current: Current,
                         sessions: Sessions) -> Response:
    await sessions.revoke(current, session_id, request_context(request))
    return Response(status_code=204)


@router.delete("/sessions", response_model=RevokedOut,
               summary="End all my sessions except this one", responses=errors(401))
async def revoke_other_sessions(request: Request, current: Current,
                                sessions: Sessions) -> RevokedOut:
    count = await sessions.revoke_others(current, request_context(request))
    return RevokedOut(revoked=count)


@router.get("/security/factors", response_model=FactorsOut, tags=["security"],
            summary="My second factors and how many recovery codes are left",
            responses=errors(401))
async def list_factors(current: Current, account: Account) -> FactorsOut:
    overview = await account.factors.overview(current.account.id)
    return FactorsOut(factors=[factor_out(f) for f in overview.factors],
                      recovery_codes_left=overview.recovery_codes_left)


@router.delete("/security/factors/{factor_id}", status_code=204, tags=["security"],
               summary="Remove a second factor (needs step-up; never the last one)",
               responses=errors(401, 403, 404, 409))
async def remove_factor(factor_id: str, ctx: Context, current: Current,
                        account: Account) -> Response:
    await account.factors.remove(current, factor_id, ctx)
    return Response(status_code=204)


@router.post("/logout", status_code=204, summary="End this session", responses=errors(401))
async def logout(request: Request, current: Current, sessions: Sessions) -> Response:
    await sessions.logout(current, request_context(request))
    return Response(status_code=204)
