"""Codes we send (SMS, email, new-device, contact change), kept in a flow's context.

One set of rules for all of them: at least 60 s between sends, at most 5 sends an hour to a
destination (the send budget, counted across flows), a lifetime, single use, and five wrong
tries kill the code; a resend gives a new code but never resets the failure count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keepgate.domain.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeNotSent,
    InvalidCode,
    ResendTooSoon,
)
from keepgate.domain.identifiers import Identifier
from keepgate.domain.policy import CodePolicy
from keepgate.flows.base import Flow, Message, SendMessage, StepResult, from_iso, iso
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.errors import InvalidCodeDigest
from keepgate.services.send_budget import SendBudget


@dataclass(frozen=True, slots=True)
class CodeSlot:
    key: str  # context prefix: "<key>_digest", "<key>_sent_at", ...
    purpose: str  # what the digest is bound to, besides the flow
    lifetime: timedelta
    budget: str = "owner"  # whose send budget: "owner", or "foreign" for a new address

    def new(self, digester: CodeDigester, flow: Flow, policy: CodePolicy) -> tuple[str, str]:
        code = generate_code(policy.digits)
        return code, digester.digest(code, purpose=self.purpose, binding=flow.id)

    async def send(self, budget: SendBudget, policy: CodePolicy, flow: Flow, to: Identifier,
                   now: datetime, *, message: SendMessage | None, digest: str | None,
                   **context: Any) -> StepResult:
        """Store the digest and hand back the message; ``message=None`` sends nothing but
        answers the same (an address we must not reveal), and no code can then match."""
        last = flow.context.get(f"{self.key}_sent_at")
        if last is not None and now < from_iso(str(last)) + policy.resend_cooldown:
            wait = from_iso(str(last)) + policy.resend_cooldown - now
            raise ResendTooSoon(retry_after=max(1, int(wait.total_seconds()) + 1))
        await budget.spend(self.budget, to.value)  # spent even when nothing goes out
        updated = flow.evolve(messages=(Message("code.sent",
                                                f"We sent a code to {to.masked()}."),))
        updated = updated.with_context(**{
            f"{self.key}_digest": digest, f"{self.key}_sent_at": iso(now),
            f"{self.key}_expires_at": iso(now + self.lifetime),
            f"{self.key}_failures": int(flow.context.get(f"{self.key}_failures", 0))},
            **context)
        return StepResult(updated, (message,) if message is not None else ())

    def sent(self, flow: Flow) -> bool:
        return f"{self.key}_expires_at" in flow.context

    def verify(self, digester: CodeDigester, policy: CodePolicy, flow: Flow, code: str,
               now: datetime) -> Flow:
        """Return the flow with the code spent, or raise (the caller records the failure)."""
        if not self.sent(flow):
            raise CodeNotSent()
        if int(flow.context.get(f"{self.key}_failures", 0)) >= policy.max_failures:
            raise CodeAttemptsExhausted("Too many wrong codes. Ask for a new code.")
        if now >= from_iso(str(flow.context[f"{self.key}_expires_at"])):
            raise CodeExpired()
        try:
            digester.verify(flow.context.get(f"{self.key}_digest"), code, purpose=self.purpose,
                            binding=flow.id)
        except InvalidCodeDigest:
            raise InvalidCode() from None
        return flow.with_context(**{f"{self.key}_digest": None})

    def failed(self, flow: Flow, policy: CodePolicy) -> dict[str, Any]:
        """Context changes after a wrong code: count it; the fifth kills the code."""
        failures = int(flow.context.get(f"{self.key}_failures", 0)) + 1
        killed = failures >= policy.max_failures
        return {f"{self.key}_failures": failures,
                **({f"{self.key}_digest": None} if killed else {})}
