"""The decision API's HTTP side: service-client credentials, scopes, RFC 7662 introspection,
and what the audit log keeps of it."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from keepgate.adapters.sql import tables as t
from keepgate.adapters.sql.engine import make_engine
from keepgate.domain.audit import ActorKind, EventKind
from keepgate.services.admin import Operator
from keepgate.services.clock import FrozenClock
from keepgate.services.ports import (
    AuditRecord,
)
from keepgate.services.service_clients import IssuedSecret
from keepgate.web.errors import SERVICE_CHALLENGE
from keepgate.wiring import Keepgate
from tests.conftest import bearer, error_apart_from_reference, register, sign_in

pytestmark = pytest.mark.anyio
OPERATOR = Operator("ops", "set up for a test")
INTROSPECT = "/api/v1/introspect"
CUSTOMER = "ada@example.com"


async def new_client(kg: Keepgate, name: str = "trading-engine",
                     scopes: Sequence[str] = ("introspect",)) -> IssuedSecret:
    return await kg.service_clients.create(name, scopes, OPERATOR)


def basic(name: str, secret: str) -> dict[str, str]:
    pair = base64.b64encode(f"{name}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def as_basic(issued: IssuedSecret) -> dict[str, str]:
    return basic(issued.client.name, issued.secret)


def as_bearer(issued: IssuedSecret) -> dict[str, str]:
    return bearer(issued.secret)


async def customer(client: httpx.AsyncClient, kg: Keepgate) -> str:
    await register(client, kg, CUSTOMER)
    return await sign_in(client, CUSTOMER)


async def audit(kg: Keepgate) -> list[AuditRecord]:
    async with kg.store.unit_of_work(write=False) as uow:
        return list(await uow.audit.read())


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# --- introspection ------------------------------------------------------------------------


@pytest.mark.parametrize("credentials", [as_basic, as_bearer])
@pytest.mark.parametrize("encoding", ["form", "json"])
async def test_an_active_session_is_described(client: httpx.AsyncClient, kg: Keepgate,
                                              clock: FrozenClock, credentials: Any,
                                              encoding: str) -> None:
    token = await customer(client, kg)
    me = (await client.get("/api/v1/me", headers=bearer(token))).json()
    service = await new_client(kg)
    body = {"data": {"token": token}} if encoding == "form" else {"json": {"token": token}}
    answer = await client.post(INTROSPECT, headers=credentials(service), **body)
    assert answer.status_code == 200, answer.text
    session = me["session"]
    created = datetime.fromisoformat(session["created_at"])
    assert answer.json() == {
        "active": True, "sub": me["id"], "iat": epoch(created),
        "exp": epoch(datetime.fromisoformat(session["last_seen_at"]) + timedelta(minutes=30)),
        "aal": "aal1", "amr": ["password"], "kyc_tier": 0, "capabilities": ["view_markets"],
        "session_id": session["id"]}
    assert answer.headers["cache-control"] == "no-store"


async def test_introspection_does_not_extend_the_idle_timer(client: httpx.AsyncClient,
                                                           kg: Keepgate,
                                                           clock: FrozenClock) -> None:
    token = await customer(client, kg)
    service = await new_client(kg)
    first = (await client.post(INTROSPECT, headers=as_basic(service),
                               data={"token": token})).json()
    for _ in range(3):  # asked again and again, up to a minute before the idle deadline
        clock.advance(timedelta(minutes=9, seconds=40))
        again = (await client.post(INTROSPECT, headers=as_basic(service),
                                   data={"token": token})).json()
        assert again["active"] is True and again["exp"] == first["exp"]
    async with kg.store.unit_of_work(write=False) as uow:
        session = await uow.sessions.get(first["session_id"])
    assert session is not None and epoch(session.last_seen_at) == first["exp"] - 30 * 60
    clock.advance(timedelta(minutes=1, seconds=1))  # 30 minutes since the customer's last use
    gone = await client.post(INTROSPECT, headers=as_basic(service), data={"token": token})
    assert gone.json() == {"active": False}
    assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 401


async def test_unknown_expired_and_revoked_tokens_are_only_inactive(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    service = await new_client(kg)
    revoked = await customer(client, kg)
    assert (await client.post("/api/v1/logout", headers=bearer(revoked))).status_code == 204
    expired = await sign_in(client, CUSTOMER)
    clock.advance(timedelta(minutes=31))
    for token in (revoked, expired, "A" * 43, "", "x" * 5000, "caf\u00e9", "\udfff"):
        answer = await client.post(  # escaped, so a lone surrogate travels as JSON has it
            INTROSPECT, content=json.dumps({"token": token}).encode(),
            headers={**as_bearer(service), "content-type": "application/json"})
        assert answer.status_code == 200, (token[:10], answer.text)
        assert answer.content == b'{"active":false}', token[:10]


async def test_the_absolute_limit_ends_a_session_for_introspection(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    service = await new_client(kg)
    token = await customer(client, kg)
    for _ in range(24):  # the customer stays busy: every half hour minus a minute
        clock.advance(timedelta(minutes=29))
        assert (await client.get("/api/v1/me", headers=bearer(token))).status_code == 200
    answer = await client.post(INTROSPECT, headers=as_basic(service), data={"token": token})
    assert answer.json()["active"] is True
    clock.advance(timedelta(minutes=25))  # 12 h 1 min after sign-in, 25 min since last use
    answer = await client.post(INTROSPECT, headers=as_basic(service), data={"token": token})
    assert answer.json() == {"active": False}


@pytest.mark.parametrize(("kwargs", "status", "code"), [
    ({"content": b"token=abc", "headers": {"content-type": "text/plain"}}, 415,
     "request.unsupported_media_type"),
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400,
     "request.malformed_json"),
    ({"json": {"token_type_hint": "access_token"}}, 422, "request.invalid"),
    ({"json": {"token": 42}}, 422, "request.invalid"),
    ({"json": ["token"]}, 422, "request.invalid"),
    ({"data": {"token_type_hint": "x"}}, 422, "request.invalid"),
    ({"content": b"token=a&token=b",
      "headers": {"content-type": "application/x-www-form-urlencoded"}}, 422,
     "request.invalid"),
    ({"content": b"token=\xff", "headers": {"content-type": "application/x-www-form-urlencoded"}},
     422, "request.invalid"),
])
async def test_bad_bodies_get_clear_errors(client: httpx.AsyncClient, kg: Keepgate,
                                           kwargs: dict[str, Any], status: int,
                                           code: str) -> None:
    service = await new_client(kg)
    kwargs = dict(kwargs)  # the parameters are shared by both backends' runs
    headers = {**as_basic(service), **kwargs.pop("headers", {})}
    answer = await client.post(INTROSPECT, headers=headers, **kwargs)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code


async def test_credentials_are_checked_before_the_body(client: httpx.AsyncClient) -> None:
    answer = await client.post(INTROSPECT, content=b"{not json",
                               headers={"content-type": "application/json"})
    assert answer.status_code == 401


# --- credentials ---------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def _refusals(kg: Keepgate) -> dict[str, dict[str, str]]:
    """Each way of failing to authenticate, by name: the headers that do it."""
    good = await new_client(kg)
    revoked = await new_client(kg, "old-wallet")
    await kg.service_clients.revoke(revoked.client.name, OPERATOR)
    rotated = await new_client(kg, "risk-engine")
    await kg.service_clients.rotate(rotated.client.name, OPERATOR)
    return {
        "wrong secret": basic(good.client.name, good.secret[:-1] + "A"
                              if good.secret[-1] != "A" else good.secret[:-1] + "B"),
        "another client's secret": basic("old-wallet", good.secret),
        "unknown client": basic("nobody-here", good.secret),
        "unknown bearer secret": bearer("kgs_" + "A" * 43),
        "revoked, basic": as_basic(revoked),
        "revoked, bearer": as_bearer(revoked),
        "rotated old secret, basic": as_basic(rotated),
        "rotated old secret, bearer": as_bearer(rotated),
        "no credentials": {},
        "basic, not base64": {"Authorization": "Basic !!!"},
        "basic, no colon": {"Authorization": f"Basic {_b64('trading-engine')}"},
        "basic, not UTF-8": {"Authorization": "Basic " + base64.b64encode(b"a:\xff").decode()},
        "basic, empty secret": {"Authorization": f"Basic {_b64('trading-engine:')}"},
        "basic, empty": {"Authorization": "Basic"},
        "bearer, empty": {"Authorization": "Bearer "},
        "another scheme": {"Authorization": f"Digest {good.secret}"},
        "the secret without a scheme": {"Authorization": good.secret},
        "over-long": {"Authorization": "Bearer " + "A" * 600},
        "a customer's session token": {},  # filled in by the test
    }


async def test_every_credential_failure_gets_one_answer(client: httpx.AsyncClient,
                                                        kg: Keepgate) -> None:
    token = await customer(client, kg)
    refusals = await _refusals(kg)
    refusals["a customer's session token"] = bearer(token)
    bodies = []
    for name, headers in refusals.items():
        answer = await client.post(INTROSPECT, headers=headers, data={"token": token})
        assert answer.status_code == 401, (name, answer.text)
        assert answer.headers["www-authenticate"] == SERVICE_CHALLENGE, name
        bodies.append(error_apart_from_reference(answer))
    assert bodies[0] == {"code": "service_client.unauthenticated", "details": {},
                         "message": bodies[0]["message"]}
    assert all(body == bodies[0] for body in bodies)


async def test_a_rotated_client_works_with_its_new_secret_only(client: httpx.AsyncClient,
                                                              kg: Keepgate) -> None:
    old = await new_client(kg)
    new = await kg.service_clients.rotate(old.client.name, OPERATOR)
    assert new.secret != old.secret
    for headers, status in ((as_basic(new), 200), (as_bearer(new), 200),
                            (as_basic(old), 401), (as_bearer(old), 401)):
        answer = await client.post(INTROSPECT, headers=headers, data={"token": "x"})
        assert answer.status_code == status


async def test_revocation_takes_effect_at_once(client: httpx.AsyncClient, kg: Keepgate) -> None:
    service = await new_client(kg)
    assert (await client.post(INTROSPECT, headers=as_bearer(service),
                              data={"token": "x"})).status_code == 200
    await kg.service_clients.revoke(service.client.name, OPERATOR)
    assert (await client.post(INTROSPECT, headers=as_bearer(service),
                              data={"token": "x"})).status_code == 401


async def test_secrets_are_stored_only_as_keyed_hashes(kg: Keepgate) -> None:
    service = await new_client(kg)
    async with kg.store.unit_of_work(write=False) as uow:
        stored = await uow.service_clients.by_name(service.client.name)
    assert stored is not None
    assert service.secret.startswith("kgs_") and len(service.secret) == 47
    assert service.secret not in stored.secret_hash and len(stored.secret_hash) == 64


async def test_an_unauthenticated_call_is_audited_without_the_secret(
        client: httpx.AsyncClient, kg: Keepgate) -> None:
    service = await new_client(kg)
    wrong = basic(service.client.name, "kgs_" + "B" * 43)
    for _ in range(3):
        await client.post(INTROSPECT, headers=wrong, data={"token": "x"})
    refused = [r.event for r in await audit(kg) if r.event.kind is EventKind.UNAUTHENTICATED]
    assert len(refused) == 1  # at most once a minute per address and path
    assert refused[0].details["reason"] == "wrong_secret"
    assert refused[0].details["path"] == INTROSPECT
    assert "B" * 43 not in str(refused[0].details)


# --- scopes --------------------------------------------------------------------------------


async def test_a_client_without_the_scope_is_refused_and_audited(client: httpx.AsyncClient,
                                                                kg: Keepgate) -> None:
    wallet = await new_client(kg, "wallet-service", ("decide", "limits"))
    for _ in range(2):
        answer = await client.post(INTROSPECT, headers=as_basic(wallet), data={"token": "x"})
        assert answer.status_code == 403
        assert answer.json()["error"]["code"] == "service_client.scope_required"
        assert answer.json()["error"]["details"] == {"scope": "introspect"}
    denied = [r.event for r in await audit(kg) if r.event.kind is EventKind.ACCESS_DENIED]
    assert len(denied) == 1  # once a minute per client and scope
    assert denied[0].acted_by.kind is ActorKind.SERVICE
    assert denied[0].acted_by.id == "wallet-service"
    assert denied[0].details["scope"] == "introspect"


# --- what the audit log keeps ----------------------------------------------------------------


async def test_introspections_are_audited_as_counts_per_client_and_minute(
        client: httpx.AsyncClient, kg: Keepgate, clock: FrozenClock) -> None:
    token = await customer(client, kg)
    engine, wallet = await new_client(kg), await new_client(kg, "wallet-service")
    for service, asked in ((engine, token), (engine, token), (engine, "nope"),
                           (wallet, token)):
        await client.post(INTROSPECT, headers=as_bearer(service), data={"token": asked})
    assert not [r for r in await audit(kg) if r.event.kind is EventKind.SERVICE_INTROSPECTIONS]
    clock.advance(timedelta(seconds=61))
    await client.post(INTROSPECT, headers=as_basic(engine), data={"token": token})
    counted = {r.event.acted_by.id: r.event for r in await audit(kg)
               if r.event.kind is EventKind.SERVICE_INTROSPECTIONS}
    assert set(counted) == {"trading-engine", "wallet-service"}
    assert {k: (e.details["calls"], e.details["active"], e.details["inactive"])
            for k, e in counted.items()} == {"trading-engine": (3, 2, 1),
                                             "wallet-service": (1, 1, 0)}
    assert all(e.acted_by.kind is ActorKind.SERVICE for e in counted.values())
    assert await kg.service_clients.flush() == 1  # the call after the minute: on shutdown
    last = [r.event for r in await audit(kg)
            if r.event.kind is EventKind.SERVICE_INTROSPECTIONS][-1]
    assert (last.acted_by.id, last.details["calls"]) == ("trading-engine", 1)


async def test_operators_changes_are_audited_with_who_and_why(kg: Keepgate) -> None:
    service = await new_client(kg)
    await kg.service_clients.rotate(service.client.name, OPERATOR)
    await kg.service_clients.revoke(service.client.name, OPERATOR)
    events = [r.event for r in await audit(kg)]
    assert [e.kind for e in events] == [EventKind.SERVICE_CLIENT_CREATED,
                                        EventKind.SERVICE_CLIENT_ROTATED,
                                        EventKind.SERVICE_CLIENT_REVOKED]
    for event in events:
        assert (event.acted_by.kind, event.acted_by.id, event.acted_by.reason) == (
            ActorKind.STAFF, "ops", "set up for a test")
        assert event.details["client"] == "trading-engine"
        assert service.secret not in str(event.details)
    assert events[0].details["scopes"] == ["introspect"]


async def test_stored_rows_hold_no_secret(kg: Keepgate) -> None:
    service = await new_client(kg)
    engine = make_engine(kg.settings.database_url)
    async with engine.connect() as conn:
        rows = [tuple(r) for r in await conn.execute(sa.select(t.service_clients))]
    await engine.dispose()
    assert len(rows) == 1 and service.secret not in str(rows)
