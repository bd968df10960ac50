"""The JSON API (``/api/v1``): flows for apps and services, the account, its sessions.

Routes receive the signed-in customer and the services they call as typed dependencies
(``web.deps``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError

from keepgate.domain.errors import UnsupportedMediaType
from keepgate.flows.base import Channel, Flow, FlowKind
from keepgate.services.context import RequestContext
from keepgate.services.effects import IssuedSession
from keepgate.web.deps import Account, Current, Flows, MaybeCurrent, Presenter, Sessions
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

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 410, 413, 422, 429)}
router = APIRouter(prefix="/api/v1", responses=ERRORS)
DEVICE_HEADER = "X-Keepgate-Device"


def context(request: Request) -> RequestContext:
    ctx = request_context(request)
    device = request.headers.get(DEVICE_HEADER)
    return replace(ctx, device_token=device[:128] if device else None)


def present(presenter: FlowPresenter, outcome_flow: Flow, issued: IssuedSession | None = None,
            device_token: str | None = None, revealed: dict[str, Any] | None = None) -> FlowOut:
    data = presenter.public_data(outcome_flow)
    data.update(revealed or {})
    return flow_out(outcome_flow, data, issued, device_token)


@router.get("/flows/{flow_id}", response_model=FlowOut, summary="Read a flow")
async def get_flow(flow_id: str, request: Request, current: MaybeCurrent, flows: Flows,
                   presenter: Presenter) -> FlowOut:
    flow = await flows.get(flow_id, Channel.API, context(request), current)
    return present(presenter, flow)


SUBMISSION = TypeAdapter(FlowSubmission)
SUBMISSION_SCHEMA = SUBMISSION.json_schema(ref_template="#/components/schemas/{model}")
FLOW_KINDS = frozenset(k.value for k in FlowKind)


async def _json_body(request: Request) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType()
    raw = await request.body()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body",),
                                       "msg": "invalid JSON"}]) from None


@router.post(
    "/flows/{kind_or_id}", response_model=FlowOut,
    responses={201: {"model": FlowOut, "description": "Flow started"}},
    summary="Start a flow, or submit a method to one",
    description=(
        "`POST /api/v1/flows/{kind}` with `kind` one of `registration`, `login`, `settings`, "
        "`step_up` starts a flow (201, no body needed; `settings` and `step_up` need a bearer "
        "token). `POST /api/v1/flows/{id}` submits `{\"method\": …, fields}` to a flow "
        "(200). A completed sign-in answers `state: completed` with a `session` whose `token` "
        "is the bearer token. Send a trusted device's token as `X-Keepgate-Device`."),
    openapi_extra={"requestBody": {"required": False, "content": {
        "application/json": {"schema": {k: v for k, v in SUBMISSION_SCHEMA.items()
                                         if k != "$defs"}}}}},
)
async def post_flow(kind_or_id: str, request: Request, response: Response,
                    current: MaybeCurrent, flows: Flows, presenter: Presenter) -> FlowOut:
    ctx = context(request)
    if kind_or_id in FLOW_KINDS:
        flow = await flows.start(kind_or_id, Channel.API, ctx, current)
        response.status_code = 201
        return present(presenter, flow)
    payload = await _json_body(request)
    try:
        body = SUBMISSION.validate_python(payload)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None
    outcome = await flows.submit(kind_or_id, Channel.API, body.method, to_submission(body),
                                 ctx, current)
    return present(presenter, outcome.flow, outcome.issued, outcome.device_token, outcome.revealed)


@router.get("/me", response_model=MeOut, summary="The signed-in account")
async def me(current: Current) -> MeOut:
    return me_out(current.account, current.session)


@router.get("/sessions", response_model=SessionsOut, summary="My active sessions")
async def list_sessions(current: Current, sessions: Sessions) -> SessionsOut:
    active = await sessions.list_active(current.account.id)
    return SessionsOut(sessions=[session_out(s, current.session.id) for s in active])


@router.delete("/sessions/{session_id}", status_code=204, summary="End one of my sessions")
async def revoke_session(session_id: str, request: Request, current: Current,
                         sessions: Sessions) -> Response:
    await sessions.revoke(current, session_id, request_context(request))
    return Response(status_code=204)


@router.delete("/sessions", response_model=RevokedOut,
               summary="End all my sessions except this one")
async def revoke_other_sessions(request: Request, current: Current,
                                sessions: Sessions) -> RevokedOut:
    count = await sessions.revoke_others(current, request_context(request))
    return RevokedOut(revoked=count)


@router.get("/security/factors", response_model=FactorsOut, tags=["security"],
            summary="My second factors and how many recovery codes are left")
async def list_factors(current: Current, account: Account) -> FactorsOut:
    overview = await account.factors.overview(current.account.id)
    return FactorsOut(factors=[factor_out(f) for f in overview.factors],
                      recovery_codes_left=overview.recovery_codes_left)


@router.delete("/security/factors/{factor_id}", status_code=204, tags=["security"],
               summary="Remove a second factor (needs step-up; never the last one)",
               responses={403: {"model": ErrorOut}})
async def remove_factor(factor_id: str, request: Request, current: Current,
                        account: Account) -> Response:
    await account.factors.remove(current, factor_id, context(request))
    return Response(status_code=204)


@router.post("/logout", status_code=204, summary="End this session")
async def logout(request: Request, current: Current, sessions: Sessions) -> Response:
    await sessions.logout(current, request_context(request))
    return Response(status_code=204)


def publish_submission_schemas(openapi: dict[str, Any]) -> dict[str, Any]:
    """The flow submission body is validated by hand (one route serves start and submit), so
    its component schemas are added to the OpenAPI document here."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    components.update(SUBMISSION_SCHEMA.get("$defs", {}))
    return openapi
