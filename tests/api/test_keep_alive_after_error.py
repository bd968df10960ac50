"""An internal error is answered like any other response: the connection stays usable."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Request

from keepgate.config import Settings
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate
from tests.support.live_server import live_server

pytestmark = pytest.mark.anyio


async def test_the_next_request_on_the_connection_succeeds_after_a_500(
        settings: Settings, kg: Keepgate, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app(settings, keepgate=kg)

    @app.get("/api/test-only/boom")
    async def boom() -> None:
        raise RuntimeError("an internal error")

    @app.get("/api/test-only/peer")
    async def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    async with live_server(app) as url, httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_connections=1)) as client:
        before = (await client.get("/api/test-only/peer")).json()["port"]
        failed = await client.get("/api/test-only/boom")
        assert failed.status_code == 500
        assert failed.json()["error"]["code"] == "internal"
        assert failed.headers["content-security-policy"]
        assert failed.headers.get("connection") != "close"
        after = await client.get("/api/test-only/peer")
        assert after.status_code == 200
        assert after.json()["port"] == before  # the same connection, not a new one
    assert any("unhandled error" in r.message for r in caplog.records)
