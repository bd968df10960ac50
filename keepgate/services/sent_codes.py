"""Codes we send (SMS, email, new-device, contact change), kept in a flow's context.

One set of rules for all of them: at least 60 s between sends, at most 5 sends an hour to a
destination (the send budget, counted across flows), a lifetime, single use, and five wrong
tries kill the code; a resend gives a new code but never resets the failure count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from keepgate.domain.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    CodeNotSent,
    InvalidCode,
    ResendTooSoon,
)
from keepgate.domain.identifiers import Identifier
from keepgate.domain.policy import CodePolicy
from keepgate.flows.base import Feedback, Flow, SendToContact, StepResult
from keepgate.flows.context import (
    sent_code,
    with_code_failure,
    with_code_sent,
    with_code_spent,
)
from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.errors import InvalidCodeDigest
from keepgate.services.send_budget import SendBudget, Sender


@dataclass(frozen=True, slots=True)
class CodeSlot:
    key: str  # the code's slot in the flow's context (``keepgate.flows.context.sent_code``)
    purpose: str  # what the digest is bound to, besides the flow
    lifetime: timedelta
    budget: str = "owner"  # whose send budget: "owner", or "foreign" for a new address

    def new(self, digester: CodeDigester, flow: Flow, policy: CodePolicy) -> tuple[str, str]:
        code = generate_code(policy.digits)
        return code, digester.digest(code, purpose=self.purpose, binding=flow.id)

    async def send(self, budget: SendBudget, policy: CodePolicy, flow: Flow, to: Identifier,
                   now: datetime, *, message: SendToContact | None,
                   digest: str | None, sender: Sender) -> StepResult:
        """Store the digest and hand back the message; ``message=None`` sends nothing but
        answers the same (an address we must not reveal), and no code can then match."""
        last = sent_code(flow, self.key).sent_at
        if last is not None and now < last + policy.resend_cooldown:
            wait = last + policy.resend_cooldown - now
            raise ResendTooSoon(retry_after=max(1, int(wait.total_seconds()) + 1))
        # spent even when nothing goes out
        await budget.spend(self.budget, to.value, sender=sender)
        updated = flow.evolve(messages=(Feedback("code.sent",
                                                f"We sent a code to {to.masked()}."),))
        updated = with_code_sent(updated, self.key, digest=digest, sent_at=now,
                                 expires_at=now + self.lifetime,
                                 failures=sent_code(flow, self.key).failures)
        return StepResult(updated, (message,) if message is not None else ())

    def sent(self, flow: Flow) -> bool:
        return sent_code(flow, self.key).sent

    def verify(self, digester: CodeDigester, policy: CodePolicy, flow: Flow, code: str,
               now: datetime) -> Flow:
        """Return the flow with the code spent, or raise (the caller records the failure)."""
        pending = sent_code(flow, self.key)
        if pending.expires_at is None:
            raise CodeNotSent()
        if pending.failures >= policy.max_failures:
            raise CodeAttemptsExhausted("Too many wrong codes. Ask for a new code.")
        if now >= pending.expires_at:
            raise CodeExpired()
        try:
            digester.verify(pending.digest, code, purpose=self.purpose, binding=flow.id)
        except InvalidCodeDigest:
            raise InvalidCode() from None
        return with_code_spent(flow, self.key)

    def failed(self, flow: Flow, policy: CodePolicy) -> Flow:
        """The flow after a wrong code: counted; the fifth kills the code."""
        failures = sent_code(flow, self.key).failures + 1
        return with_code_failure(flow, self.key, failures=failures,
                                 killed=failures >= policy.max_failures)
