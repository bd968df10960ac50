"""Step-up: prove a second factor again before a sensitive action.

```mermaid
stateDiagram-v2
    [*] --> awaiting_second_factor
    awaiting_second_factor --> awaiting_second_factor : totp
    awaiting_second_factor --> completed : totp
    awaiting_second_factor --> awaiting_second_factor : sms_code
    awaiting_second_factor --> completed : sms_code
    awaiting_second_factor --> awaiting_second_factor : email_code
    awaiting_second_factor --> completed : email_code
    awaiting_second_factor --> awaiting_second_factor : recovery_code
    awaiting_second_factor --> completed : recovery_code
    awaiting_second_factor --> awaiting_second_factor : webauthn
    awaiting_second_factor --> completed : webauthn
    completed --> [*]
```

Completing it raises the session to aal2 with a new token (the old one stops working) and
stamps the time, which guards such as factor changes accept for five minutes
(``domain.access``). A strong factor stamps its own time too; an email code does not, so it
approves no security change. An account with a strong factor is therefore not offered the
email code here: only an account whose only factor it is steps up with it (to add its first
strong factor).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import NoFactorToStepUp
from keepgate.domain.factors import FACTOR_PREFERENCE, STRONG_FACTOR_KINDS, FactorKind
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    ElevateSession,
    Feedback,
    Flow,
    FlowKind,
    RecordEvent,
    StepResult,
    Transitions,
)
from keepgate.flows.context import account_id_of, enrolled_factors
from keepgate.flows.login import factor_data
from keepgate.flows.spec import Access, FlowSpec, Opening

AWAITING_SECOND_FACTOR = "awaiting_second_factor"
STATES = frozenset({AWAITING_SECOND_FACTOR, COMPLETED})
FACTORS = ("totp", "sms_code", "email_code", "recovery_code", "webauthn")

TRANSITIONS: Transitions = {
    AWAITING_SECOND_FACTOR: {m: frozenset({AWAITING_SECOND_FACTOR, COMPLETED}) for m in FACTORS},
    COMPLETED: {},
}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta, *,
          account_id: str, session_id: str, factors: Sequence[str],
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.STEP_UP, channel=channel,
                state=AWAITING_SECOND_FACTOR, created_at=now, expires_at=now + lifetime,
                binding=binding, account_id=account_id, session_id=session_id,
                context={"account_id": account_id, "session_id": session_id,
                         "factors": list(factors)},
                messages=(Feedback("step_up.required",
                                  "Confirm it is you with your second factor."),))


def _start(opening: Opening) -> Flow:
    owner = opening.signed_in
    if not owner.factors:
        raise NoFactorToStepUp()
    return start(opening.flow_id, opening.channel, opening.now,
                 opening.policies.flows.login_lifetime, account_id=owner.account_id,
                 session_id=owner.session_id, factors=owner.factors, binding=opening.binding)


def open_methods(flow: Flow) -> tuple[str, ...]:
    """The account's factors, strongest first; the email code only when none is strong."""
    enrolled = set(enrolled_factors(flow) or ())
    if enrolled & {k.value for k in STRONG_FACTOR_KINDS}:
        enrolled.discard(FactorKind.EMAIL_CODE.value)
    return tuple(m for m in FACTOR_PREFERENCE if m in enrolled)


def session_id_of(flow: Flow) -> str:
    return str(flow.context["session_id"])


def passed(flow: Flow, *, method: str) -> StepResult:
    account_id = account_id_of(flow)
    done = flow.evolve(state=COMPLETED, messages=(Feedback("step_up.completed",
                                                          "Confirmed. You can continue."),))
    return StepResult(done, (
        ElevateSession(session_id_of(flow), method),
        RecordEvent(EventKind.STEP_UP, Outcome.SUCCESS, account_id, {"method": method}),
    ))


SPEC = FlowSpec(kind=FlowKind.STEP_UP, states=STATES, transitions=TRANSITIONS, start=_start,
                open_methods=open_methods, public_data=factor_data, access=Access.SESSION)
