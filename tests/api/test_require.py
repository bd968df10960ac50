"""keepgate.web.deps.Require: a route declares the action it takes; the signed-in customer
reaches it only when ``domain.access.authorize`` allows, and is refused with today's errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI

from keepgate.domain.access import Action
from keepgate.domain.principals import CustomerSession
from keepgate.services.clock import FrozenClock
from keepgate.web import errors, pages
from keepgate.web.deps import Require
from keepgate.wiring import Keepgate
from tests.unit.services.records import add_account, add_session

pytestmark = pytest.mark.anyio
TOKEN = "ann-phone-token"


@pytest.fixture
async def guarded(kg: Keepgate, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    app.state.keepgate = kg
    errors.install(app, render_page_error=pages.render_page_error)

    @app.post("/api/v1/enrol")
    async def enrol(current: Annotated[CustomerSession, Require(Action.ADD_FACTOR)]
                    ) -> dict[str, str]:
        return {"account": current.account.id}

    @app.post("/api/v1/withdraw")
    async def withdraw(current: Annotated[CustomerSession, Require(Action.WITHDRAW)]
                       ) -> dict[str, str]:
        return {"account": current.account.id}

    await add_account(kg.store, clock)
    await add_session(kg.store, clock, "acc-1", TOKEN)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        yield http


async def test_an_allowed_action_reaches_the_route(guarded: httpx.AsyncClient) -> None:
    answer = await guarded.post("/api/v1/enrol")
    assert answer.status_code == 200
    assert answer.json() == {"account": "acc-1"}


async def test_a_refusal_is_todays_error(guarded: httpx.AsyncClient,
                                         clock: FrozenClock) -> None:
    clock.advance(timedelta(minutes=16))
    answer = await guarded.post("/api/v1/enrol")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "fresh_sign_in_required"


async def test_other_reasons_are_named(guarded: httpx.AsyncClient) -> None:
    answer = await guarded.post("/api/v1/withdraw")
    assert answer.status_code == 403
    error = answer.json()["error"]
    assert error["code"] == "access.denied"
    assert error["details"]["reasons"] == ["tier_too_low", "step_up_required"]
    assert error["details"]["decision"][0]["tier_needed"] == 1


async def test_no_session_no_decision(guarded: httpx.AsyncClient) -> None:
    answer = await guarded.post("/api/v1/enrol", headers={"Authorization": ""})
    assert answer.status_code == 401
