"""When and how a flow demands proof of work (ALTCHA).

The demand lives in the flow (``captcha_required``), so a client sees it in ``methods`` as
``captcha`` with the challenge in ``data.captcha``; the solution comes back as the field
``captcha`` beside the method's own. A flow says so before it is demanded: from a throttled IP
when it is created (``ahead``), after the failure that makes it necessary in that failure's
answer (``after_failure``); only a flow that could not know in advance refuses first. A
solution is bound to its flow and action, verified server-side and accepted once (the replay
guard remembers it until it expires).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import CaptchaRequired
from keepgate.flows.base import Feedback, Flow, RecordEvent, StepResult
from keepgate.flows.context import captcha_required, with_captcha_required
from keepgate.security.captcha import CaptchaIssuer
from keepgate.security.errors import InvalidCaptcha
from keepgate.services.clock import Clock
from keepgate.services.ports import ReplayGuard
from keepgate.services.throttle import Throttle


class CaptchaGate:
    def __init__(self, *, issuer: CaptchaIssuer, guard: ReplayGuard, throttle: Throttle,
                 clock: Clock) -> None:
        self._issuer = issuer
        self._guard = guard
        self._throttle = throttle
        self._clock = clock

    @staticmethod
    def binding(flow: Flow) -> str:
        return f"{flow.kind.value}:{flow.id}"

    def challenge(self, flow: Flow) -> dict[str, Any]:
        return self._issuer.challenge(binding=self.binding(flow), now=self._clock.now())

    async def solved(self, flow: Flow, payload: str | None) -> bool:
        if not payload or len(payload) > 4096:
            return False
        try:
            key = self._issuer.verify(payload, binding=self.binding(flow), now=self._clock.now())
        except InvalidCaptcha:
            return False
        return await self._guard.first_use(key, self._issuer.replay_ttl_seconds)

    async def ahead(self, flow: Flow, ip: str) -> Flow:
        """A new flow from a throttled IP: marked, so its first page carries the widget."""
        if await self._throttle.ip_flagged(ip):
            return with_captcha_required(flow, True)
        return flow

    async def after_failure(self, result: StepResult, identifier: str | None,
                            ip: str) -> StepResult:
        """A refused attempt whose failure makes proof necessary: the answer carries it."""
        if result.error is None or captcha_required(result.flow) or \
                not await self._throttle.captcha_needed(identifier, ip):
            return result
        return replace(result, flow=with_captcha_required(result.flow, True))

    async def demanded(self, flow: Flow, identifier: str | None, ip: str,
                       payload: str | None = None) -> StepResult | None:
        """None when no proof is needed or a valid one came; else the demand, to persist."""
        required = (captcha_required(flow) and identifier is not None) or \
            await self._throttle.captcha_needed(identifier, ip)
        if not required or await self.solved(flow, payload):
            return None
        error = CaptchaRequired()
        demanding = with_captcha_required(
            flow.evolve(messages=(Feedback(error.code, error.message, "error"),)), True)
        event = () if captcha_required(flow) else (
            RecordEvent(EventKind.CAPTCHA_DEMANDED, Outcome.SUCCESS, None,
                        {"flow": flow.kind.value}),)
        return StepResult(demanding, event, error)
