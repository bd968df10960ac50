"""Readiness: every check runs, under a timeout, and only the kind of failure is told."""

from __future__ import annotations

import asyncio

import pytest

from keepgate.services.readiness import Readiness

pytestmark = pytest.mark.anyio


async def fine() -> None:
    return None


async def broken() -> None:
    raise ConnectionRefusedError("postgresql://user:password@db/keepgate refused")


async def hangs() -> None:
    await asyncio.Event().wait()


async def test_every_check_is_reported() -> None:
    report = await Readiness({"database": fine, "redis": broken}).report()
    assert report == {"database": "ok", "redis": "failed: ConnectionRefusedError"}


async def test_a_check_that_hangs_times_out() -> None:
    report = await Readiness({"database": hangs, "redis": fine},
                             timeout_seconds=0.001).report()
    assert report == {"database": "timed out after 0.001 s", "redis": "ok"}
