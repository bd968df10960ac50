"""Pure ASGI middleware: the request id, security headers, limits on the request head and
body, and internal errors answered without dropping the connection. Every error body written
here quotes the request id as its ``reference``, as the error mapping's do."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keepgate.services import request_ids

STATIC_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
MAX_HEADER_LINE_BYTES = 8 * 1024  # one header, name and value
MAX_HEADER_BYTES = 32 * 1024  # all of them, and the most the server buffers of a request head
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """``CSP``, with images also allowed from ``image_origins`` (an operator's logo or favicon
    served from its own site); scripts and styles stay this site's own files."""
    if not image_origins:
        return CSP
    return CSP.replace("img-src 'self' data:", "img-src 'self' data: " + " ".join(image_origins))


def error_json(code: str, message: str) -> bytes:
    """An error body in the shape of ``keepgate.web.errors.error_body``."""
    return json.dumps({"error": {"code": code, "message": message, "details": {},
                                 "reference": request_ids.current()}}).encode()


class RequestId:
    """Outermost: each request gets its id (``keepgate.services.request_ids``) for as long as it
    runs, and the answer names it in ``X-Request-Id``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value.decode("latin-1") for name, value in scope.get("headers", [])
                     if name == b"x-request-id"), None)
        request_id = request_ids.accept_or_new(sent)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-Id"] = request_id
            await send(message)

        token = request_ids.CURRENT.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_ids.CURRENT.reset(token)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool, csp: str = CSP) -> None:
        self.app = app
        self.hsts = hsts
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        over_tls = self.hsts or scope.get("scheme") == "https"
        path = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", self.csp)
                for name, value in STATIC_HEADERS.items():
                    headers.setdefault(name, value)
                if not path.startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
                if over_tls:
                    headers.setdefault("Strict-Transport-Security",
                                       "max-age=63072000; includeSubDomains")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RejectNul:
    """A NUL byte in a path or query is refused (400) before any handler or database sees it:
    PostgreSQL cannot store one, and no identifier of ours contains one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = scope.get("raw_path") or scope.get("path", "").encode()
            query = scope.get("query_string", b"")
            if b"\x00" in raw or b"%00" in raw or b"%00" in query or b"\x00" in query \
                    or "\x00" in scope.get("path", ""):
                body = error_json("request.invalid",
                                  "The address contains a character that is not allowed.")
                await send({"type": "http.response.start", "status": 400,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class HeaderLimit:
    """Refuse a request whose headers are over ``line_limit`` bytes each or ``total_limit``
    together with 431 ``request.headers_too_large``, as a proxy would. The server (see
    ``keepgate.cli.SERVER_LIMITS``) already stops buffering a head that is still incomplete
    past the total; this catches one that arrived whole."""

    def __init__(self, app: ASGIApp, *, line_limit: int, total_limit: int) -> None:
        self.app = app
        self.line_limit = line_limit
        self.total_limit = total_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            lines = [len(name) + len(value) + 4 for name, value in scope.get("headers", [])]
            if any(n > self.line_limit for n in lines) or sum(lines) > self.total_limit:
                body = error_json("request.headers_too_large",
                                  "The request headers are too large.")
                await send({"type": "http.response.start", "status": 431,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode()),
                                        (b"connection", b"close")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 ``request.too_large``, before parsing them."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = self.limit + 1
                if declared > self.limit:
                    await self._refuse(send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = error_json("request.too_large",
                          f"The request body is larger than {self.limit} bytes.")
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


ErrorResponder = Callable[[Request, Exception], Awaitable[Response]]


class AnswerInternalErrors:
    """Answer an exception no handler took with ``respond``'s 500, and swallow it.

    Starlette's outermost error middleware sends its 500 and then re-raises, so uvicorn closes
    the keep-alive connection and the client's next request on it fails. Installed innermost,
    this one turns the error into an ordinary response first. An error after the response has
    started cannot be answered any more and still propagates; a body over the limit belongs to
    ``BodyLimit``.
    """

    def __init__(self, app: ASGIApp, *, respond: ErrorResponder) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except BodyTooLarge:
            raise
        except Exception as error:
            if started:
                raise
            response = await self.respond(Request(scope, receive), error)
            await response(scope, receive, send)
