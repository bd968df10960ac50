"""Operations endpoints: readiness and Prometheus metrics, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import httpx
import pytest

from keepgate.config import Secret, Settings
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests import backends
from tests.conftest import PASSWORD, register, serve

pytestmark = pytest.mark.anyio
TOKEN = "metrics-token-for-tests-0123456789abcdef"


def scraped(text: str, name: str, **labels: str) -> float:
    """One sample's value from the exposition text (0 when the series does not exist yet)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if match and match[1] == name and ",".join(sorted((match[2] or "").split(","))) == (
                wanted if labels else ""):
            return float(match[3])
    return 0.0


@pytest.fixture
def metrics_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, metrics_token=Secret(TOKEN))


async def scrape(http: httpx.AsyncClient) -> str:
    response = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


# --- readiness --------------------------------------------------------------------------------


async def test_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert response.headers["cache-control"] == "no-store"


async def test_not_ready_names_the_database_when_it_cannot_answer(
        settings: Settings, clock: FrozenClock, tmp_path: object) -> None:
    unmigrated = dataclasses.replace(settings,
                                     database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    async with serve(unmigrated, clock) as (http, _):
        response = await http.get("/readyz")
        liveness = await http.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("failed: ")
    assert liveness.status_code == 200  # liveness never asks the database


async def test_not_ready_names_redis_when_it_does_not_answer(settings: Settings,
                                                             clock: FrozenClock) -> None:
    unreachable = dataclasses.replace(settings, redis_url="redis://127.0.0.1:1/0")
    async with serve(unreachable, clock) as (http, _):
        response = await http.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["redis"].startswith("failed: ")


@pytest.mark.redis
async def test_ready_with_redis(settings: Settings, clock: FrozenClock) -> None:
    backends.need("redis")
    async with serve(dataclasses.replace(settings, redis_url=backends.REDIS_URL), clock) as (
            http, _):
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


# --- metrics: who may read them -------------------------------------------------------------


async def test_no_metrics_without_a_configured_token(client: httpx.AsyncClient) -> None:
    unknown = await client.get("/no-such-page")
    response = await client.get("/metrics", headers={"Authorization": "Bearer anything"})
    assert response.status_code == unknown.status_code == 404
    # the same page, but for the request id each answer names
    assert response.text.replace(response.headers["X-Request-Id"], "") == \
        unknown.text.replace(unknown.headers["X-Request-Id"], "")


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {TOKEN}",
                                           f"Bearer {TOKEN}x", "Bearer"])
async def test_metrics_refuse_anyone_without_the_token(metrics_settings: Settings,
                                                       clock: FrozenClock,
                                                       authorization: str | None) -> None:
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with serve(metrics_settings, clock) as (http, _):
        response = await http.get("/metrics", headers=headers)
    assert response.status_code == 404
    assert "keepgate_" not in response.text


async def test_metrics_are_not_in_the_public_api_description(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/metrics" not in paths
    assert "/readyz" in paths


# --- metrics: what they count ---------------------------------------------------------------


async def test_sign_ins_bans_and_messages_are_counted(metrics_settings: Settings,
                                                      clock: FrozenClock) -> None:
    async with serve(metrics_settings, clock) as (http, kg):
        before = await scrape(http)
        await register(http, kg, "metrics@example.com")
        for _ in range(5):
            flow = (await http.post("/api/v1/flows/login")).json()
            await http.post(f"/api/v1/flows/{flow['id']}", json={
                "method": "password", "identifier": "metrics@example.com",
                "password": "not the password at all"})
        after = await scrape(http)

    def delta(name: str, **labels: str) -> float:
        return scraped(after, name, **labels) - scraped(before, name, **labels)

    assert delta("keepgate_sign_ins_total", outcome="failure") >= 3
    assert delta("keepgate_sign_ins_total", outcome="success") == 0
    assert delta("keepgate_messages_queued_total", channel="email",
                 template="registration_code") == 1


async def test_a_successful_sign_in_is_counted(metrics_settings: Settings,
                                               clock: FrozenClock) -> None:
    async with serve(metrics_settings, clock) as (http, kg):
        await register(http, kg, "counted@example.com")
        before = await scrape(http)
        headers = {"X-Keepgate-Device": _device("counted@example.com")}
        flow = (await http.post("/api/v1/flows/login", headers=headers)).json()
        done = await http.post(f"/api/v1/flows/{flow['id']}", headers=headers, json={
            "method": "password", "identifier": "counted@example.com", "password": PASSWORD})
        assert done.json()["state"] == "completed"
        after = await scrape(http)
    assert (scraped(after, "keepgate_sign_ins_total", outcome="success")
            - scraped(before, "keepgate_sign_ins_total", outcome="success")) == 1


def _device(identifier: str) -> str:
    from tests.conftest import DEVICES

    return DEVICES[identifier]


async def test_outbox_backlog_and_age(metrics_settings: Settings, clock: FrozenClock) -> None:
    async with serve(metrics_settings, clock) as (http, kg):
        assert scraped(await scrape(http), "keepgate_outbox_pending") == 0
        await _queue_message(kg)
        clock.advance(timedelta(seconds=90))
        text = await scrape(http)
    assert scraped(text, "keepgate_outbox_pending") == 1
    assert scraped(text, "keepgate_outbox_oldest_pending_age_seconds") == 90


async def _queue_message(kg: Keepgate) -> None:
    async with kg.store.unit_of_work(write=True) as uow:
        await uow.outbox.enqueue("sms", "+447700900123", "sign_in_code", "", "body",
                                 kg.clock.now())


async def test_latency_is_labelled_by_route_template(metrics_settings: Settings,
                                                     clock: FrozenClock) -> None:
    async with serve(metrics_settings, clock) as (http, _):
        flow = (await http.post("/api/v1/flows/login")).json()
        await http.get(f"/api/v1/flows/{flow['id']}")
        await http.get("/definitely/not/a/route")
        text = await scrape(http)
    assert flow["id"] not in text
    template = {"method": "GET", "route": "/api/v1/flows/{flow_id}", "status": "2xx"}
    assert scraped(text, "keepgate_request_duration_seconds_count", **template) >= 1
    assert scraped(text, "keepgate_request_duration_seconds_count", method="GET",
                   route="unmatched", status="4xx") >= 1
