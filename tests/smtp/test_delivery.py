"""Outbox delivery over a real SMTP server (aiosmtpd) and a real HTTP SMS gateway on loopback."""

from __future__ import annotations

import dataclasses
import email
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from keepgate.config import Settings
from keepgate.services.clock import FrozenClock
from keepgate.web.app import create_app
from keepgate.wiring import Keepgate, build

pytestmark = pytest.mark.anyio


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[str, Inbox]]:
    inbox = Inbox()
    port = free_port()  # aiosmtpd cannot bind port 0 itself
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()


class Gateway:
    """A local SMS gateway: records each POST; answers with the queued status codes first."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.failures: list[int] = []


@pytest.fixture
def gateway() -> Iterator[tuple[str, Gateway]]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            payload = json.loads(self.rfile.read(length))
            status = state.failures.pop(0) if state.failures else 202
            if status < 300:
                state.received.append(payload)
                state.auth.append(self.headers.get("authorization"))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/sms", state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def delivering(settings: Settings, smtp: tuple[str, Inbox],
                     gateway: tuple[str, Gateway], clock: FrozenClock
                     ) -> AsyncIterator[tuple[Keepgate, httpx.AsyncClient]]:
    from keepgate.config import Secret

    configured = dataclasses.replace(settings, smtp_url=smtp[0], sms_webhook_url=gateway[0],
                                     sms_webhook_token=Secret("gateway-token"))
    kg = build(configured, clock=clock)
    app = create_app(configured, keepgate=kg)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield kg, client
    await kg.close()


async def test_codes_arrive_by_smtp_and_bodies_are_scrubbed(
        delivering: tuple[Keepgate, httpx.AsyncClient], smtp: tuple[str, Inbox]) -> None:
    kg, client = delivering
    flow_id = await register_without_code(client, "mail@example.com")
    assert smtp[1].messages == []  # nothing leaves before the worker runs
    assert await kg.outbox.run_once() == 1
    [message] = smtp[1].messages
    assert message["To"] == "mail@example.com"
    assert message["Subject"] == "Your Keepgate sign-up code"
    code = next(w for w in body_of(message).split() if w.isdigit() and len(w) == 6)
    done = await client.post(f"/api/v1/flows/{flow_id}", json={"method": "code", "code": code})
    assert done.json()["state"] == "completed"
    async with kg.store.unit_of_work(write=False) as uow:
        [stored] = await uow.outbox.recent(1)
    assert stored.status == "sent" and stored.body == ""  # the code does not linger
    dev_page = await client.get("/dev/messages")  # real delivery configured: no dev outbox
    assert dev_page.status_code == 404


async def test_sms_goes_to_the_gateway_and_failures_are_retried(
        delivering: tuple[Keepgate, httpx.AsyncClient], gateway: tuple[str, Gateway],
        clock: FrozenClock) -> None:
    kg, client = delivering
    gateway[1].failures = [500, 503]
    await register_without_code(client, "+447911123456")
    assert await kg.outbox.run_once() == 0  # 500
    assert await kg.outbox.run_once() == 0  # not due yet: backoff
    clock.advance(timedelta(seconds=15))
    assert await kg.outbox.run_once() == 0  # 503
    clock.advance(timedelta(seconds=29))
    assert await kg.outbox.run_once() == 0  # backoff doubled to 30 s
    clock.advance(timedelta(seconds=1))
    assert await kg.outbox.run_once() == 1
    [payload] = gateway[1].received
    assert payload["to"] == "+447911123456" and "Keepgate sign-up code" in payload["text"]
    assert gateway[1].auth == ["Bearer gateway-token"]
    async with kg.store.unit_of_work(write=False) as uow:
        [stored] = await uow.outbox.recent(1)
    assert stored.status == "sent" and stored.attempts == 3


async def test_an_unreachable_server_loses_nothing(settings: Settings, clock: FrozenClock,
                                                   smtp: tuple[str, Inbox]) -> None:
    dead = dataclasses.replace(settings, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    kg = build(dead, clock=clock)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(dead, keepgate=kg)),
                               base_url="http://testserver")
    async with client:
        await register_without_code(client, "lost@example.com")
    assert await kg.outbox.run_once() == 0
    async with kg.store.unit_of_work(write=False) as uow:
        [pending] = await uow.outbox.recent(1)
    assert pending.status == "pending" and pending.last_error and pending.body
    await kg.close()
    # The operator fixes the SMTP URL; the same message goes out on the next round.
    alive = build(dataclasses.replace(settings, smtp_url=smtp[0]), clock=clock)
    clock.advance(timedelta(minutes=1))
    assert await alive.outbox.run_once() == 1
    assert smtp[1].messages[0]["To"] == "lost@example.com"
    await alive.close()


async def register_without_code(client: httpx.AsyncClient, identifier: str) -> str:
    """Submit credentials only; the code goes out through the outbox. Returns the flow id."""
    flow = (await client.post("/api/v1/flows/registration")).json()
    response = await client.post(f"/api/v1/flows/{flow['id']}", json={
        "method": "password", "identifier": identifier,
        "password": "correct horse battery staple orbit", "accept_terms": True})
    assert response.status_code == 200
    return str(flow["id"])


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_existing_account_notice_is_emailed(
        delivering: tuple[Keepgate, httpx.AsyncClient], smtp: tuple[str, Inbox]) -> None:
    kg, client = delivering
    flow_id = await register_without_code(client, "dup@example.com")
    await kg.outbox.run_once()
    code = next(w for w in body_of(smtp[1].messages[-1]).split() if w.isdigit() and len(w) == 6)
    await client.post(f"/api/v1/flows/{flow_id}", json={"method": "code", "code": code})

    await register_without_code(client, "dup@example.com")
    assert await kg.outbox.run_once() == 1
    notice = smtp[1].messages[-1]
    assert notice["To"] == "dup@example.com"
    assert notice["Subject"] == "Someone tried to create an account with your address"
    assert "http://localhost/login" in body_of(notice)
    assert not any(w.isdigit() and len(w) == 6 for w in body_of(notice).split())
