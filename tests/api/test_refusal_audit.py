"""Refusals leave an audit trace, at most one a minute per session (or address) and action:
another customer's objects, step-up refusals, and requests without a valid session."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from keepgate.domain.audit import ActorKind, AuditEvent, EventKind
from keepgate.services.clock import FrozenClock
from keepgate.wiring import Keepgate
from tests.api.factor_helpers import with_totp_and_step_up
from tests.conftest import bearer, register, sign_in

pytestmark = pytest.mark.anyio
ANN, BOB = "ann.audit@example.com", "bob.audit@example.com"


async def events(kg: Keepgate, kind: EventKind) -> list[AuditEvent]:
    async with kg.store.unit_of_work(write=False) as uow:
        return [r.event for r in await uow.audit.read() if r.event.kind is kind]


async def test_reaching_for_another_customers_objects_is_recorded(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    bob_token, _ = await with_totp_and_step_up(client, kg, BOB, clock)
    bob = (await client.get("/api/v1/me", headers=bearer(bob_token))).json()
    factor = (await client.get("/api/v1/security/factors",
                               headers=bearer(bob_token))).json()["factors"][0]["id"]
    device = (await client.get("/api/v1/security/devices",
                               headers=bearer(bob_token))).json()
    await register(client, kg, ANN)
    ann_token = await sign_in(client, ANN)
    ann = (await client.get("/api/v1/me", headers=bearer(ann_token))).json()
    probes = [
        ("session", bob["session"]["id"],
         await client.delete(f"/api/v1/sessions/{bob['session']['id']}",
                             headers=bearer(ann_token))),
        ("factor", factor, await client.delete(f"/api/v1/security/factors/{factor}",
                                               headers=bearer(ann_token))),
        ("factor", factor, await client.patch(f"/api/v1/security/factors/{factor}",
                                              json={"label": "mine"},
                                              headers=bearer(ann_token))),
    ]
    if device:
        probes.append(("device", device[0]["id"], await client.delete(
            f"/api/v1/security/devices/{device[0]['id']}", headers=bearer(ann_token))))
    for kind, _, answer in probes:
        assert answer.status_code == 404, answer.text  # as if it did not exist
        assert answer.json()["error"]["code"] == f"{kind}.not_found"
    denied = await events(kg, EventKind.ACCESS_DENIED)
    assert [(e.details["resource"], e.details["reasons"]) for e in denied] == [
        (f"{kind}:{ident}", ["not_owner"]) for kind, ident, _ in probes]
    for event in denied:
        assert event.account_id == ann["id"]
        assert event.acted_by.kind is ActorKind.CUSTOMER and event.acted_by.id == ann["id"]
        assert event.details["owner"] == bob["id"]
        assert event.details["session_id"] == ann["session"]["id"]
    # a loop does not flood the log: one a minute per session and action
    for _ in range(5):
        await client.delete(f"/api/v1/security/factors/{factor}", headers=bearer(ann_token))
    assert len(await events(kg, EventKind.ACCESS_DENIED)) <= len(probes) + 1


async def test_step_up_refusals_are_recorded_once_a_minute(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token, _ = await with_totp_and_step_up(client, kg, ANN, clock)
    clock.advance(timedelta(minutes=6))
    for _ in range(5):
        refused = await client.put("/api/v1/security/anti-phishing-code",
                                   json={"code": "Blue42"}, headers=bearer(token))
        assert refused.json()["error"]["code"] == "step_up_required"
    denied = await events(kg, EventKind.ACCESS_DENIED)
    assert 1 <= len(denied) <= 2  # fixed windows: a minute's edge may fall between two
    assert denied[0].details["action"] == "set_anti_phishing_code"
    assert denied[0].details["reasons"] == ["step_up_required"]


async def test_requests_without_a_valid_session_are_recorded_once_a_minute(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    for _ in range(5):
        assert (await client.get("/api/v1/me")).status_code == 401
    answer = await client.get("/api/v1/sessions", headers=bearer("not-a-token"))
    assert answer.status_code == 401
    unauthenticated = await events(kg, EventKind.UNAUTHENTICATED)
    paths = [e.details["path"] for e in unauthenticated]
    assert 1 <= paths.count("/api/v1/me") <= 2 and paths.count("/api/v1/sessions") == 1
    assert unauthenticated[-1].details["reason"] == "invalid_token"
    assert unauthenticated[0].details["reason"] == "no_token"
    assert unauthenticated[0].acted_by.kind is ActorKind.SYSTEM
