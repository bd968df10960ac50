"""Operations endpoints: readiness (``/readyz``), Prometheus metrics (``/metrics``), and the
request-latency middleware that feeds them.

``/metrics`` exists only when ``KEEPGATE_METRICS_TOKEN`` is set and answers only a request that
carries it as a bearer token (compared in constant time); anyone else gets the same 404 as an
unknown path. A token rather than a second listener: uvicorn's workers share one socket, and a
token works unchanged behind a reverse proxy, on every instance, with Prometheus's own
``authorization`` setting.

Latency is labelled by route template (``/api/v1/flows/{flow_id}``), never the raw path, so
the number of series stays bounded whatever clients request; a path no route matches is
``unmatched``.
"""

from __future__ import annotations

import hmac
import time

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from keepgate.services.readiness import READY
from keepgate.web.deps import Services, keepgate_of

router = APIRouter(tags=["operations"])


@router.get("/readyz", summary="Readiness: the database (and Redis, when configured) answer",
            responses={503: {"description": "A dependency failed; the body names it"}})
async def readyz(kg: Services) -> JSONResponse:
    checks = await kg.readiness.report()
    ready = all(result == READY for result in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks},
                        status_code=200 if ready else 503,
                        headers={"Cache-Control": "no-store"})


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, kg: Services) -> Response:
    token = kg.settings.metrics_token
    if token is None or not _bearer_matches(request, token.reveal()):
        raise HTTPException(404)
    backlog, now = await kg.outbox_status.backlog()
    body, content_type = kg.metrics.exposition(backlog, now)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


def _bearer_matches(request: Request, expected: str) -> bool:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                              expected.encode())


class RequestLatency:
    """Times every HTTP request and reports it by method, route template and status class."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            keepgate_of(Request(scope)).metrics.observe_request(scope["method"], template, status,
                                       time.perf_counter() - started)
