"""Oversized request heads are refused by the server `keepgate serve` runs, before buffering."""

from __future__ import annotations

import asyncio
import resource
import time
from urllib.parse import urlsplit

import httpx
import pytest

from keepgate.cli import HTTP_PARSER
from keepgate.config import Settings
from keepgate.web.app import create_app
from keepgate.web.middleware import MAX_HEADER_BYTES
from keepgate.wiring import Keepgate
from tests.support.live_server import live_server

# What `keepgate serve` passes to uvicorn.
SERVER_LIMITS = {"http": HTTP_PARSER, "h11_max_incomplete_event_size": MAX_HEADER_BYTES}

pytestmark = pytest.mark.anyio


async def send_head(url: str, header_bytes: int) -> bytes:
    """Send a GET whose one header is ``header_bytes`` long; return what came back."""
    parts = urlsplit(url)
    assert parts.hostname and parts.port
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "
    answer = b""
    try:
        writer.write(head)
        chunk = b"a" * 16384
        for _ in range(header_bytes // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        writer.write(b"\r\n\r\n")
        await writer.drain()
    except (ConnectionResetError, BrokenPipeError):
        pass
    try:
        answer = await asyncio.wait_for(reader.read(4096), timeout=5)
    except ConnectionResetError:
        answer = b""
    writer.close()
    return answer


async def test_a_64_kib_header_is_refused_quickly(settings: Settings, kg: Keepgate) -> None:
    app = create_app(settings, keepgate=kg)
    async with live_server(app, **SERVER_LIMITS) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            normal = await client.get("/healthz", headers={"Cookie": "a=" + "b" * 4096})
            assert normal.status_code == 200
        started = time.monotonic()
        answer = await send_head(url, 64 * 1024)
        assert time.monotonic() - started < 5
        assert answer == b"" or answer.split(b" ")[1] in (b"400", b"431"), answer[:80]
        async with httpx.AsyncClient(base_url=url) as client:
            line = await client.get("/healthz", headers={"X-Line": "a" * 9000})
            assert line.status_code == 431
            assert line.json()["error"]["code"] == "request.headers_too_large"


async def test_a_huge_header_does_not_grow_memory(settings: Settings, kg: Keepgate) -> None:
    app = create_app(settings, keepgate=kg)
    async with live_server(app, **SERVER_LIMITS) as url:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        await asyncio.gather(*(send_head(url, 8 * 1024 * 1024) for _ in range(4)))
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 16 * 1024, f"the server grew by {grown_kib} KiB"
