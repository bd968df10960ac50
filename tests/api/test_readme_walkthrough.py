"""The README's ``curl`` walkthrough, run as written against a real ``keepgate serve``.

Only the port differs: the server listens on a free loopback port, given to the walkthrough as
``KEEPGATE_PORT`` as a reader who changed the port would have it. It must end with the
account from ``GET /me``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")


def walkthrough() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    [block] = [b for b in blocks if "/flows/registration" in b]
    return block


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    env = {**os.environ, "KEEPGATE_PORT": str(port),
           "KEEPGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/walkthrough.db",
           "KEEPGATE_ARGON2_MEMORY_KIB": "8", "KEEPGATE_ARGON2_TIME_COST": "1",
           "PYTHONPATH": str(README.parent)}
    for name in ("KEEPGATE_PUBLIC_URL", "KEEPGATE_SMTP_URL", "KEEPGATE_SMS_WEBHOOK_URL",
                 "KEEPGATE_ENV", "KEEPGATE_REDIS_URL"):
        env.pop(name, None)
    cli = [sys.executable, "-c", "import sys; from keepgate.cli import main; sys.exit(main())"]
    subprocess.run([*cli, "migrate"], env=env, check=True, capture_output=True)
    server = subprocess.Popen([*cli, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.2)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_readme_curl_walkthrough_ends_signed_in(served: dict[str, str]) -> None:
    run = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", walkthrough()], env=served,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 4 and lines[0] == "awaiting_code" and lines[2] == "awaiting_device_code"
    for me in (json.loads(lines[1]), json.loads(lines[3])):  # curl --fail-with-body: a 200
        assert me["email"] == "you@example.com" and me["session"]["methods"] == ["password"]
