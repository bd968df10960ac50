"""Schemathesis against the served ``/openapi.json``: no server error, and every answer (status,
headers, body) as the document says, signed in with a bearer token. Bounded: a few examples per
operation, no stateful phase."""

from __future__ import annotations

import subprocess
import sys

import anyio
import httpx
import pytest

from keepgate.config import Settings
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate
from tests.conftest import register, sign_in
from tests.support.live_server import live_server

pytest.importorskip("schemathesis")
pytestmark = pytest.mark.anyio
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_headers_conformance,response_schema_conformance")
RUN = "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())"


# Operations that can end the fuzzer's own session (it reuses ids it has read, its own session's
# included): run last, or everything after them is a 401.
SESSION_ENDING = r"(logout|sign-out-everywhere|not-me|sessions/\{session_id\})$"


def fuzz(base_url: str, token: str, *selection: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, "run", f"{base_url}/openapi.json", "--url", base_url,
         "--checks", CHECKS, "--phases", "examples,coverage,fuzzing", "--max-examples", "5",
         "--generation-deterministic", "--request-timeout", "10", "--no-color",
         "-H", f"Authorization: Bearer {token}", *selection],
        capture_output=True, text=True, timeout=600, check=False)


async def test_every_answer_matches_the_schema(client: httpx.AsyncClient, kg: Keepgate,
                                               settings: Settings) -> None:
    await register(client, kg, "fuzz@example.com")
    token = await sign_in(client, "fuzz@example.com")
    async with live_server(create_app(settings, keepgate=kg)) as base_url:
        for selection in ("--exclude-path-regex", "--include-path-regex"):
            run = await anyio.to_thread.run_sync(fuzz, base_url, token, selection,
                                                 SESSION_ENDING)
            assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
            if selection == "--exclude-path-regex":  # signed in all along
                me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
                assert me.status_code == 200
