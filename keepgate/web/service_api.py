"""The decision API for the exchange's other services: introspection.

Every route here takes a service client (``ServiceCaller(scope)``): HTTP Basic with the
client's name and secret, or the secret alone as a bearer token. Missing, malformed, unknown,
wrong, replaced and revoked credentials all answer ``401 service_client.unauthenticated`` with
``WWW-Authenticate`` naming both schemes; a client without the route's scope answers
``403 service_client.scope_required``.

"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request, Security
from fastapi.security import HTTPBasic, HTTPBearer

from keepgate.domain.errors import (
    MalformedJson,
    RequestRejected,
    UnsupportedMediaType,
)
from keepgate.domain.principals import ServiceClient
from keepgate.domain.service_clients import Scope
from keepgate.web.api import BODY_ERRORS
from keepgate.web.deps import ServiceClientsDep, Sessions
from keepgate.web.errors import SERVICE_CHALLENGE
from keepgate.web.requests import request_context
from keepgate.web.schemas import ErrorOut
from keepgate.web.service_schemas import (
    IntrospectionIn,
    IntrospectionOut,
    introspection_out,
)

MAX_AUTHORIZATION_LENGTH = 512
FORM = "application/x-www-form-urlencoded"


# Both only declare their scheme in OpenAPI; ``ServiceCaller`` parses the header itself, so
# that every failure gets Keepgate's one answer rather than FastAPI's.
class _Basic(HTTPBasic):
    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


class _Bearer(HTTPBearer):
    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


service_basic = _Basic(scheme_name="ServiceClientBasic", auto_error=False,
                       description="A service client's name and secret")
service_bearer = _Bearer(scheme_name="ServiceClientBearer", auto_error=False,
                         description="A service client's secret (`kgs_...`)")

SERVICE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No valid service-client credentials",
          "headers": {"WWW-Authenticate": {"description": f"`{SERVICE_CHALLENGE}`",
                                           "schema": {"type": "string"}}}},
    403: {"model": ErrorOut, "description": "The client lacks this route's scope "
          "(`service_client.scope_required`)"},
}


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {**SERVICE_ERRORS, **{status: {"model": ErrorOut} for status in statuses}}


def _credentials(header: str | None) -> tuple[str | None, str] | str:
    """(name or None, secret) from an Authorization header; a reason string when unusable."""
    if header is None:
        return "no_credentials"
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value or len(value) > MAX_AUTHORIZATION_LENGTH:
        return "malformed_credentials"
    if scheme.lower() == "bearer":
        return None, value
    if scheme.lower() != "basic":
        return "malformed_credentials"
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return "malformed_credentials"
    name, colon, secret = decoded.partition(":")
    return (name, secret) if colon else "malformed_credentials"


def ServiceCaller(scope: Scope) -> Any:
    """``Annotated[ServiceClient, ServiceCaller(Scope.X)]``: an authenticated client with X."""

    async def caller(request: Request, clients: ServiceClientsDep,
                     _basic: Annotated[str | None, Security(service_basic)],
                     _bearer: Annotated[str | None, Security(service_bearer)]) -> ServiceClient:
        ctx, path = request_context(request), request.url.path
        found = _credentials(request.headers.get("authorization"))
        if isinstance(found, str):
            raise await clients.refuse(ctx, path, found)
        client = await clients.authenticate(*found, ctx, path)
        await clients.require_scope(client, scope, ctx, path)
        return client

    return Depends(caller)


router = APIRouter(prefix="/api/v1", tags=["services"])

FORM_OR_JSON = {"requestBody": {"required": True, "content": {
    media: {"schema": IntrospectionIn.model_json_schema()} for media in (FORM, "application/json")
}}}


async def _token_in(request: Request) -> str:
    """RFC 7662's form-encoded body, or the same fields as JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    fields: Any
    if media == FORM:
        try:
            parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise RequestRejected("The form is not UTF-8.") from None
        if any(len(values) > 1 for values in parsed.values()):
            raise RequestRejected("Send each field once.")
        fields = {name: values[0] for name, values in parsed.items()}
    elif media == "application/json":
        try:
            fields = json.loads(raw)
        except ValueError:
            raise MalformedJson() from None
    else:
        raise UnsupportedMediaType(f"Send the body as {FORM} or application/json.")
    if not isinstance(fields, dict) or not isinstance(fields.get("token"), str):
        raise RequestRejected(details={"errors": [{
            "field": "token", "type": "missing", "problem": "A token (a string) is required."}]})
    token: str = fields["token"]
    return token


@router.post(
    "/introspect", response_model=IntrospectionOut, summary="Who holds this session token",
    description=(
        "RFC 7662 introspection of a customer's session token, for the exchange's other "
        "services (scope `introspect`). An unknown, expired or revoked token answers exactly "
        "`{\"active\": false}`. Asking does not extend the session's idle timer."),
    responses=_errors(*BODY_ERRORS), openapi_extra=FORM_OR_JSON)
async def introspect(request: Request,
                     client: Annotated[ServiceClient, ServiceCaller(Scope.INTROSPECT)],
                     sessions: Sessions, clients: ServiceClientsDep) -> IntrospectionOut:
    found = await sessions.introspect(await _token_in(request))
    await clients.count_introspection(client, active=found is not None)
    return introspection_out(found, sessions.policy)
