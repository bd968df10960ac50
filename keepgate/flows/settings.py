"""Settings: enrol second factors from a signed-in session.

```mermaid
stateDiagram-v2
    [*] --> ready
    ready --> ready : totp
    ready --> ready : sms_code
    ready --> ready : email_code
    ready --> ready : webauthn
    ready --> ready : recovery_code
    ready --> ready : contact
```

A settings flow belongs to the session that started it and expires like any flow. Each
submission either prepares a method (a TOTP secret to scan, a code sent, passkey options) or
confirms it. Changing sign-in methods needs a fresh sign-in when the account has no second
factor yet, and a second factor proven in the last five minutes (step-up) once it has one.
The first factor enrolled produces recovery codes, shown once. ``contact`` changes the
email address or phone number: a code goes to the new one, the old one is told (with a link
to undo), and withdrawals are held for 24 hours.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from keepgate.flows.base import Channel, Flow, FlowKind, Transitions

READY = "ready"
STATES = frozenset({READY})
METHODS = ("totp", "sms_code", "email_code", "webauthn", "recovery_code", "contact")

TRANSITIONS: Transitions = {READY: {method: frozenset({READY}) for method in METHODS}}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta, *,
          account_id: str, session_id: str, account_name: str,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.SETTINGS, channel=channel, state=READY,
                created_at=now, expires_at=now + lifetime, binding=binding,
                account_id=account_id, session_id=session_id,
                context={"account_id": account_id, "session_id": session_id,
                         "account_name": account_name})
