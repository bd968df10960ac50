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

from keepgate.domain import errors as e
from keepgate.web.middleware import CSP, STATIC_HEADERS, AnswerInternalErrors

log = logging.getLogger("keepgate.web")

STATUS_BY_CODE: dict[str, int] = {
    "request.malformed_json": 400,
    "request.invalid": 422,
    "request.too_large": 413,
    "request.unsupported_media_type": 415,
    "flow.not_found": 404,
    "flow.unknown_kind": 404,
    "flow.expired": 410,
    "flow.completed": 409,
    "flow.conflict": 409,
    "flow.method_not_allowed": 400,
    "code.resend_too_soon": 429,
    "code.send_limit_reached": 429,
    "login.invalid_credentials": 401,
    "registration.identifier_taken": 409,
    "auth.required": 401,
    "session.not_found": 404,
    "csrf.invalid": 403,
    "step_up_required": 403,
    "fresh_sign_in_required": 403,
    "access.denied": 403,
    "throttle.too_many_attempts": 429,
    "captcha.required": 400,
    "factor.not_found": 404,
    "factor.last_factor": 409,
    "factor.already_enrolled": 409,
    "step_up.no_factor": 409,
    "security.conflict": 409,
    "device.not_found": 404,
    "contact.taken": 409,
}

STATUS_BY_TYPE: tuple[tuple[type[e.KeepgateError], int], ...] = (
    (e.InputRejected, 400),
    (e.CodeError, 400),
    (e.NotFound, 404),
    (e.FlowError, 400),
    (e.RequestRejected, 400),
)

HTTP_CODES = {404: "http.not_found", 405: "http.method_not_allowed",
              415: "request.unsupported_media_type"}


def status_for(error: e.KeepgateError) -> int:
    if error.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[error.code]
    for kind, status in STATUS_BY_TYPE:
        if isinstance(error, kind):
            return status
    return 400


def error_body(code: str, message: str, details: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


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
    if isinstance(error, e.AuthenticationRequired):
        headers["WWW-Authenticate"] = 'Bearer realm="keepgate"'
    return headers


def _validation_details(exc: RequestValidationError) -> tuple[str, str, dict[str, Any]]:
    problems = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return "request.malformed_json", "The request body is not valid JSON.", {}
        # Never echo the input back: it may be a password.
        location = [str(p) for p in err.get("loc", ()) if p != "body"]
        problems.append({"field": ".".join(location), "problem": err.get("msg", "invalid"),
                         "type": err.get("type", "invalid")})
    return "request.invalid", "Some fields are missing or not valid.", {"errors": problems}


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
        code, message, details = _validation_details(exc)
        status = STATUS_BY_CODE[code]
        if wants_page(request):
            return render_page_error(request, status, code, message)
        return ErrorResponse(error_body(code, message, details), status_code=status)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTP_CODES.get(exc.status_code, f"http.{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if wants_page(request):
            return render_page_error(request, exc.status_code, code, message)
        return ErrorResponse(error_body(code, message), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        message = "Something went wrong on our side. Nothing was changed; please try again."
        if wants_page(request):
            response = render_page_error(request, 500, "internal", message)
        else:
            response = ErrorResponse(error_body("internal", message), status_code=500)
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
