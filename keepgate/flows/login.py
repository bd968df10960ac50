"""Sign-in: identifier + password, giving a session at assurance level aal1.

```mermaid
stateDiagram-v2
    [*] --> awaiting_credentials
    awaiting_credentials --> awaiting_credentials : password
    awaiting_credentials --> completed : password
    completed --> [*]
```

Second factors add states after the password (see the method protocol in
``services.methods``); the session's assurance level is derived from the methods used.
An unknown identifier, a wrong password and a refused account give the same answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import InvalidCredentials
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    Flow,
    FlowKind,
    IssueSession,
    Message,
    RecordEvent,
    StepResult,
    Transitions,
)

AWAITING_CREDENTIALS = "awaiting_credentials"
STATES = frozenset({AWAITING_CREDENTIALS, COMPLETED})

TRANSITIONS: Transitions = {
    AWAITING_CREDENTIALS: {"password": frozenset({AWAITING_CREDENTIALS, COMPLETED})},
    COMPLETED: {},
}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.LOGIN, channel=channel, state=AWAITING_CREDENTIALS,
                created_at=now, expires_at=now + lifetime, binding=binding)


def submit_password(flow: Flow, *, account_id: str | None, verified: bool,
                    masked_identifier: str) -> StepResult:
    if verified and account_id is not None:
        done = flow.evolve(state=COMPLETED, account_id=account_id,
                           messages=(Message("login.completed", "You are signed in."),))
        return StepResult(done, (
            IssueSession(account_id, ("password",)),
            RecordEvent(EventKind.LOGIN, Outcome.SUCCESS, account_id, {"methods": ["password"]}),
        ))
    error = InvalidCredentials()
    failed = flow.evolve(messages=(Message(error.code, error.message, "error"),)).with_context(
        failures=int(flow.context.get("failures", 0)) + 1
    )
    return StepResult(failed, (
        RecordEvent(EventKind.LOGIN, Outcome.FAILURE, account_id,
                    {"identifier": masked_identifier, "reason": "invalid_credentials"}),
    ), error)
