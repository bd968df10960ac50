"""The one mapping from domain errors to HTTP. Nothing else in Keepgate knows status codes."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from keepgate.domain import errors as e
from keepgate.services import request_ids
from keepgate.web.middleware import CSP, STATIC_HEADERS, AnswerInternalErrors

log = logging.getLogger("keepgate.web")

# A class not listed answers with the status of the nearest class on its MRO that is:
# FactorNotFound with NotFound's 404, CaptchaRequired with KeepgateError's 400. Requests the
# middleware refuses before any route (request.too_large, request.headers_too_large, a NUL in
# the address) are answered there.
STATUS_BY_CLASS: dict[type[e.KeepgateError], int] = {
    e.KeepgateError: 400,
    e.RequestRejected: 422,
    e.MalformedJson: 400,
    e.UnsupportedMediaType: 415,
    e.FlowNotFound: 404,
    e.UnknownFlowKind: 404,
    e.FlowExpired: 410,
    e.FlowCompleted: 409,
    e.FlowConflict: 409,
    e.NoFactorToStepUp: 409,
    e.ContactTaken: 409,
    e.ResendTooSoon: 429,
    e.SendLimitReached: 429,
    e.NotFound: 404,
    e.FactorAlreadyEnrolled: 409,
    e.LastFactor: 409,
    e.InvalidCredentials: 401,
    e.RegistrationConflict: 409,
    e.AuthenticationRequired: 401,
    e.StepUpRequired: 403,
    e.SecondFactorRequired: 403,
    e.FreshSignInRequired: 403,
    e.AccessDenied: 403,
    e.LimitError: 409,
    e.LimitExceeded: 403,
    e.NotLimited: 422,
    e.ReservationNotFound: 404,
    e.ReservationExpired: 410,
    e.ScopeRequired: 403,
    e.SecurityConflict: 409,
    e.Throttled: 429,
    e.CsrfRejected: 403,
}

HTTP_CODES = {404: "http.not_found", 405: "http.method_not_allowed",
              415: e.UnsupportedMediaType.code}
INTERNAL = "internal"
SERVICE_CHALLENGE = 'Basic realm="keepgate-services", Bearer realm="keepgate-services"'


def _codes_under(kind: type[e.KeepgateError]) -> set[str]:
    return {kind.code}.union(*(_codes_under(sub) for sub in kind.__subclasses__()))


# Every code an error body can carry: the error tree's, and the HTTP layer's own.
ERROR_CODES = tuple(sorted(_codes_under(e.KeepgateError) | set(HTTP_CODES.values())
                           | {INTERNAL}))


def status_for(error: e.KeepgateError) -> int:
    return next(STATUS_BY_CLASS[kind] for kind in type(error).__mro__
                if kind in STATUS_BY_CLASS)


def error_body(code: str, message: str, details: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {},
                      "reference": request_ids.current()}}


class ErrorResponse(JSONResponse):
    """A JSON error body that always encodes: a message may quote input, and input may hold a
    lone surrogate (``"\\udfff"`` in JSON), which UTF-8 cannot carry. It becomes ``?``."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":"))
        return text.encode("utf-8", errors="replace")


def headers_for(error: e.KeepgateError) -> dict[str, str]:
    headers: dict[str, str] = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, e.ServiceClientUnauthenticated):
        headers["WWW-Authenticate"] = SERVICE_CHALLENGE
    elif isinstance(error, e.AuthenticationRequired):
        headers["WWW-Authenticate"] = 'Bearer realm="keepgate"'
    return headers


def _validation_error(exc: RequestValidationError) -> e.RequestRejected:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return e.MalformedJson()
        # Never echo the input back: it may be a password.
        location = [str(p) for p in err.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(location), "problem": err.get("msg", "invalid"),
                         "type": err.get("type", "invalid")})
    return e.RequestRejected(details={"errors": problems})


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path: Starlette's 405 names only the first
    route's, and FastAPI makes one route per method."""
    return [method for method in METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL
        for route in request.app.router.routes)]


PageErrorRenderer = Callable[[Request, int, str, str], Response]


def install(app: FastAPI, *, render_page_error: PageErrorRenderer) -> None:
    """``render_page_error(request, status, code, message)`` draws errors for page routes."""

    def wants_page(request: Request) -> bool:
        return not request.url.path.startswith(("/api/", "/openapi.json", "/healthz"))

    async def keepgate_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, e.KeepgateError)
        status = status_for(exc)
        if wants_page(request):
            return render_page_error(request, status, exc.code, exc.message)
        body = error_body(exc.code, exc.message, exc.details)
        flow = getattr(exc, "flow", None)
        if flow is not None:
            from keepgate.web.deps import keepgate_of, presenter_of
            from keepgate.web.schemas import flow_out

            data = presenter_of(keepgate_of(request)).public_data(flow)
            body["flow"] = flow_out(flow, data).model_dump(mode="json")
        return ErrorResponse(body, status_code=status, headers=headers_for(exc))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        error = _validation_error(exc)
        code, message, details = error.code, error.message, error.details
        status = status_for(error)
        if wants_page(request):
            return render_page_error(request, status, code, message)
        return ErrorResponse(error_body(code, message, details), status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 400 and not wants_page(request):
            # FastAPI's own refusal of a JSON body it cannot decode (not UTF-8, say)
            code, message = e.MalformedJson.code, e.MalformedJson.message
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        if wants_page(request):
            response = render_page_error(request, exc.status_code, code, message)
            response.headers.update(headers)
            return response
        return ErrorResponse(error_body(code, message), status_code=exc.status_code,
                             headers=headers)

    async def unexpected(request: Request, exc: Exception) -> Response:
        # The fault may have struck after something was committed (a sign-in attempt is
        # reserved before the password is checked), so the answer promises nothing about
        # what changed; the reference (the request id) finds the log line.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = ("Something went wrong on our side. Try again; if it persists, contact "
                   f"support with reference {request_ids.current() or 'unavailable'}.")
        if wants_page(request):
            response = render_page_error(request, 500, INTERNAL, message)
        else:
            response = ErrorResponse(error_body(INTERNAL, message), status_code=500)
        # Starlette answers unhandled errors outside every middleware: add the headers here.
        response.headers.update({"Content-Security-Policy": CSP, "Cache-Control": "no-store",
                                 **STATIC_HEADERS})
        return response

    app.add_exception_handler(e.KeepgateError, keepgate_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Errors inside the routes become ordinary responses (the connection stays open); the
    # handler below still answers for errors raised in the outer middleware.
    app.add_middleware(AnswerInternalErrors, respond=unexpected)
    app.add_exception_handler(Exception, unexpected)
