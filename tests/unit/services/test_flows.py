"""keepgate.services.flows: the runner looks kinds up and refuses steps that leave the table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from keepgate.adapters.ratelimit import LimitsWindowCounters
from keepgate.domain.errors import InvalidCode, KeepgateError, UnknownFlowKind
from keepgate.domain.factors import DefencePolicy
from keepgate.domain.policy import Policies
from keepgate.flows import registration
from keepgate.flows.base import COMPLETED, Channel, Flow, FlowKind, StepResult
from keepgate.flows.spec import UnexpectedTransition
from keepgate.services.access import AccessService
from keepgate.services.clock import FrozenClock
from keepgate.services.context import RequestContext
from keepgate.services.flows import FlowService
from keepgate.services.methods import CodeSubmission, Submission

pytestmark = pytest.mark.anyio
CTX = RequestContext(ip="203.0.113.7", user_agent="test")


class Flows:
    def __init__(self) -> None:
        self.stored: dict[str, Flow] = {}

    async def create(self, flow: Flow) -> None:
        self.stored[flow.id] = flow

    async def get(self, flow_id: str) -> Flow | None:
        return self.stored.get(flow_id)

    async def save(self, flow: Flow) -> Flow:
        saved = flow.evolve(version=flow.version + 1)
        self.stored[flow.id] = saved
        return saved


class Store:
    """Just enough storage for a flow: the runner's own reads and writes."""

    def __init__(self) -> None:
        self.flows = Flows()

    @asynccontextmanager
    async def unit_of_work(self, write: bool) -> AsyncIterator[Store]:
        yield self


@dataclass
class Leap:
    """A registration method whose step lands wherever the test says."""

    target: str
    error: KeepgateError | None = None
    name: str = "password"
    kinds: frozenset[FlowKind] = frozenset({FlowKind.REGISTRATION})

    async def step(self, flow: Flow, submission: Submission, ctx: RequestContext,
                   now: datetime) -> StepResult:
        return StepResult(flow.evolve(state=self.target), error=self.error)


def runner(store: Store, method: Leap) -> FlowService:
    unused: Any = None  # no effect is produced, so no handler needs its collaborators
    clock = FrozenClock()
    return FlowService(store=store, clock=clock, methods=[method], notifier=unused,
                       policies=Policies(), defences=DefencePolicy(), recovery=unused,
                       access=AccessService(store=store, clock=clock, policy=DefencePolicy(),
                                            counters=LimitsWindowCounters.in_memory()))


async def started(store: Store, method: Leap) -> tuple[FlowService, Flow]:
    service = runner(store, method)
    return service, await service.start("registration", Channel.API, CTX)


async def test_a_step_on_the_table_is_saved() -> None:
    store = Store()
    service, flow = await started(store, Leap(registration.AWAITING_CODE))
    outcome = await service.submit(flow.id, Channel.API, "password", CodeSubmission(), CTX)
    assert outcome.flow.state == registration.AWAITING_CODE
    assert store.flows.stored[flow.id].version == 1


async def test_a_step_off_the_table_is_an_internal_error_and_nothing_is_saved() -> None:
    store = Store()
    service, flow = await started(store, Leap(COMPLETED))
    with pytest.raises(UnexpectedTransition):
        await service.submit(flow.id, Channel.API, "password", CodeSubmission(), CTX)
    kept = store.flows.stored[flow.id]
    assert (kept.state, kept.version) == (registration.AWAITING_CREDENTIALS, 0)


async def test_a_refused_step_may_stay_where_it_was() -> None:
    store = Store()
    service, flow = await started(
        store, Leap(registration.AWAITING_CREDENTIALS, error=InvalidCode()))
    with pytest.raises(InvalidCode) as caught:
        await service.submit(flow.id, Channel.API, "password", CodeSubmission(), CTX)
    assert caught.value.flow is not None and caught.value.flow.version == 1


async def test_a_refused_step_off_the_table_is_still_an_internal_error() -> None:
    store = Store()
    service, flow = await started(store, Leap(COMPLETED, error=InvalidCode()))
    with pytest.raises(UnexpectedTransition):
        await service.submit(flow.id, Channel.API, "password", CodeSubmission(), CTX)
    assert store.flows.stored[flow.id].version == 0


async def test_an_unknown_kind_is_refused_before_anything_is_stored() -> None:
    store = Store()
    with pytest.raises(UnknownFlowKind):
        await runner(store, Leap(COMPLETED)).start("factor_reset", Channel.API, CTX)
    assert store.flows.stored == {}
