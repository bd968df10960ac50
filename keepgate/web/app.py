"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from keepgate import __version__
from keepgate.config import ANNOUNCED, Settings
from keepgate.services import request_ids
from keepgate.services.clock import Clock
from keepgate.web import (
    api,
    errors,
    limits_api,
    ops,
    pages,
    security_api,
    security_pages,
    service_api,
)
from keepgate.web.branding import image_origins
from keepgate.web.middleware import (
    MAX_HEADER_BYTES,
    MAX_HEADER_LINE_BYTES,
    BodyLimit,
    HeaderLimit,
    RejectNul,
    RequestId,
    SecurityHeaders,
    content_security_policy,
)
from keepgate.wiring import Keepgate, build

log = logging.getLogger("keepgate")


def create_app(settings: Settings, *, clock: Clock | None = None,
               keepgate: Keepgate | None = None) -> FastAPI:
    """``keepgate`` may be passed in (tests); otherwise it is built from ``settings``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        kg = keepgate or build(settings, clock=clock)
        app.state.keepgate = kg
        worker = None
        if settings.run_outbox_worker:
            worker = asyncio.create_task(kg.outbox.run_forever(
                settings.outbox_poll_seconds,
                chores=[kg.maintenance.run_once, kg.service_clients.flush]))
        if settings.dev_outbox:
            log.warning("development mode: messages are not delivered; read them at "
                        "%s/dev/messages", settings.public_url)
        try:
            yield
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            if keepgate is None:
                await kg.close()

    app = FastAPI(title="Keepgate", version=__version__, lifespan=lifespan,
                  description="Account access for a digital-asset exchange.",
                  # Interactive API docs in development only; /openapi.json is always served.
                  docs_url=None if settings.production else "/docs", redoc_url=None)
    if keepgate is not None:
        app.state.keepgate = keepgate
    errors.install(app, render_page_error=pages.render_page_error)
    app.include_router(api.router)
    app.include_router(security_api.router)
    app.include_router(limits_api.router)
    app.include_router(service_api.router)
    app.include_router(pages.router)
    app.include_router(security_pages.router)
    if settings.dev_outbox:
        app.include_router(pages.dev_router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")

    @app.get("/healthz", include_in_schema=True, tags=["operations"],
             summary="Liveness: answers without touching the database")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(RejectNul)
    app.add_middleware(HeaderLimit, line_limit=MAX_HEADER_LINE_BYTES,
                       total_limit=MAX_HEADER_BYTES)
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"),
                       csp=content_security_policy(image_origins(settings.brand)))
    app.include_router(ops.router)
    app.add_middleware(ops.RequestLatency)  # times every answer, refusals included
    app.add_middleware(RequestId)  # outermost: every answer and log line names its request
    request_ids.stamp_log_records()
    return app


def app_from_env() -> FastAPI:
    """The uvicorn factory: ``uvicorn --factory keepgate.web.app:app_from_env``."""
    return create_app(Settings.from_env(os.environ, announce=ANNOUNCED not in os.environ))
