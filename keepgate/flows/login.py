"""Sign-in: a first factor, then a second factor when the account has one, then a code when
the device is new.

```mermaid
stateDiagram-v2
    [*] --> awaiting_credentials
    awaiting_credentials --> awaiting_credentials : password
    awaiting_credentials --> awaiting_second_factor : password
    awaiting_credentials --> awaiting_device_code : password
    awaiting_credentials --> completed : password
    awaiting_credentials --> awaiting_credentials : webauthn
    awaiting_credentials --> awaiting_device_code : webauthn
    awaiting_credentials --> completed : webauthn
    awaiting_second_factor --> awaiting_second_factor : totp
    awaiting_second_factor --> awaiting_device_code : totp
    awaiting_second_factor --> completed : totp
    awaiting_second_factor --> awaiting_second_factor : sms_code
    awaiting_second_factor --> awaiting_device_code : sms_code
    awaiting_second_factor --> completed : sms_code
    awaiting_second_factor --> awaiting_second_factor : email_code
    awaiting_second_factor --> awaiting_device_code : email_code
    awaiting_second_factor --> completed : email_code
    awaiting_second_factor --> awaiting_second_factor : recovery_code
    awaiting_second_factor --> awaiting_device_code : recovery_code
    awaiting_second_factor --> completed : recovery_code
    awaiting_second_factor --> awaiting_second_factor : webauthn
    awaiting_second_factor --> awaiting_device_code : webauthn
    awaiting_second_factor --> completed : webauthn
    awaiting_device_code --> awaiting_device_code : device_code
    awaiting_device_code --> completed : device_code
    completed --> [*]
```

``webauthn`` in ``awaiting_credentials`` is passwordless sign-in with a passkey (user
verification required). An account with any second factor can never finish without one:
the password step leads to ``awaiting_second_factor``, whose methods are the factors the
account has. A device without a trusted-device token must then confirm a code sent to the
owner. The session's assurance level is derived from the methods used.

An unknown identifier, a wrong password, a banned account and a locked account give the same
answer; failures from an unknown device never ban a device the owner already trusts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import InvalidCredentials, KeepgateError
from keepgate.domain.factors import FACTOR_PREFERENCE
from keepgate.domain.identifiers import Identifier
from keepgate.domain.policy import Policies
from keepgate.flows.base import (
    COMPLETED,
    Channel,
    Effect,
    Feedback,
    Flow,
    FlowKind,
    IssueSession,
    RecordEvent,
    SendToContact,
    StepResult,
    Transitions,
)
from keepgate.flows.base import open_methods as table_methods
from keepgate.flows.context import (
    account_id_of,
    captcha_required,
    enrolled_factors,
    recovery_codes_left,
    with_code_sent,
    with_code_spent,
)
from keepgate.flows.spec import FlowSpec, Opening

AWAITING_CREDENTIALS = "awaiting_credentials"
AWAITING_SECOND_FACTOR = "awaiting_second_factor"
AWAITING_DEVICE_CODE = "awaiting_device_code"
STATES = frozenset({AWAITING_CREDENTIALS, AWAITING_SECOND_FACTOR, AWAITING_DEVICE_CODE,
                    COMPLETED})
DEVICE_CODE = "device_code"  # the method, and its code's slot in the context
SECOND_FACTORS = ("totp", "sms_code", "email_code", "recovery_code", "webauthn")
_AFTER_FIRST = frozenset({AWAITING_SECOND_FACTOR, AWAITING_DEVICE_CODE, COMPLETED})
_AFTER_SECOND = frozenset({AWAITING_SECOND_FACTOR, AWAITING_DEVICE_CODE, COMPLETED})

TRANSITIONS: Transitions = {
    AWAITING_CREDENTIALS: {
        "password": frozenset({AWAITING_CREDENTIALS}) | _AFTER_FIRST,
        "webauthn": frozenset({AWAITING_CREDENTIALS, AWAITING_DEVICE_CODE, COMPLETED}),
    },
    AWAITING_SECOND_FACTOR: {method: _AFTER_SECOND for method in SECOND_FACTORS},
    AWAITING_DEVICE_CODE: {DEVICE_CODE: frozenset({AWAITING_DEVICE_CODE, COMPLETED})},
    COMPLETED: {},
}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.LOGIN, channel=channel, state=AWAITING_CREDENTIALS,
                created_at=now, expires_at=now + lifetime, binding=binding)


def _start(opening: Opening) -> Flow:
    return start(opening.flow_id, opening.channel, opening.now,
                 opening.policies.flows.login_lifetime, opening.binding)


def open_methods(flow: Flow) -> tuple[str, ...]:
    """The methods a client may submit now: in ``awaiting_second_factor``, the account's."""
    if flow.state == AWAITING_SECOND_FACTOR:
        enrolled = set(enrolled_factors(flow) or ())
        methods: tuple[str, ...] = tuple(m for m in FACTOR_PREFERENCE if m in enrolled)
    else:
        methods = table_methods(TRANSITIONS, flow.state)
    if captcha_required(flow) and flow.state == AWAITING_CREDENTIALS:
        methods += ("captcha",)
    return methods


def factor_data(flow: Flow, methods: tuple[str, ...], policies: Policies) -> dict[str, Any]:
    """Once the account's factors are known: which are offered, and recovery codes left.

    Shared with step-up, whose flow keeps its factors the same way.
    """
    if enrolled_factors(flow) is None:
        return {}
    data: dict[str, Any] = {"factors": list(methods)}
    left = recovery_codes_left(flow)
    if left is not None:
        data["recovery_codes_left"] = left
    return data


def failures(flow: Flow) -> int:
    """Refused attempts in this flow (what the defences count is kept elsewhere)."""
    return int(flow.context.get("failures", 0))


def methods_used(flow: Flow) -> tuple[str, ...]:
    return tuple(flow.context.get("methods_used", ()))


def fail(flow: Flow, *, account_id: str | None, masked_identifier: str, reason: str,
         error: KeepgateError | None = None) -> StepResult:
    """A refused attempt: the same public answer whatever the reason (recorded privately).

    What the failed check changed in the flow (a spent challenge, a counted wrong code) is
    already in ``flow``; this counts the failure and records it.
    """
    error = error or InvalidCredentials()
    failed = flow.evolve(messages=(Feedback(error.code, error.message, "error"),)).with_context(
        failures=failures(flow) + 1)
    return StepResult(failed, (
        RecordEvent(EventKind.LOGIN, Outcome.FAILURE, account_id,
                    {"identifier": masked_identifier, "reason": reason,
                     "step": flow.state}),
    ), error)


def first_factor_passed(flow: Flow, *, account_id: str, method: str, masked_identifier: str,
                        factors: Sequence[str], device_trusted: bool,
                        device_code: SendToContact | None, code_digest: str | None,
                        now: datetime, code_lifetime: timedelta) -> StepResult:
    """Password (or passkey) accepted: on to the second factor, the device code, or done."""
    flow = flow.with_context(account_id=account_id, masked_identifier=masked_identifier,
                             methods_used=[method], captcha_required=False)
    if factors and method == "password":
        return StepResult(flow.evolve(
            state=AWAITING_SECOND_FACTOR, account_id=account_id,
            messages=(Feedback("login.second_factor_required",
                              "Confirm it is you with your second factor."),),
        ).with_context(factors=list(factors)))
    return _after_factors(flow, account_id=account_id, device_trusted=device_trusted,
                          device_code=device_code, code_digest=code_digest, now=now,
                          code_lifetime=code_lifetime)


def second_factor_passed(flow: Flow, *, method: str, device_trusted: bool,
                         device_code: SendToContact | None, code_digest: str | None,
                         now: datetime, code_lifetime: timedelta) -> StepResult:
    account_id = account_id_of(flow)
    used = [*methods_used(flow), method]
    flow = flow.with_context(methods_used=used)
    result = _after_factors(flow, account_id=account_id, device_trusted=device_trusted,
                            device_code=device_code, code_digest=code_digest, now=now,
                            code_lifetime=code_lifetime)
    return StepResult(result.flow, (
        RecordEvent(EventKind.SECOND_FACTOR, Outcome.SUCCESS, account_id, {"method": method}),
        *result.effects), result.error)


def device_confirmed(flow: Flow) -> StepResult:
    return _complete(flow, trust_device=True)


def _after_factors(flow: Flow, *, account_id: str, device_trusted: bool,
                   device_code: SendToContact | None, code_digest: str | None, now: datetime,
                   code_lifetime: timedelta) -> StepResult:
    if device_trusted:
        return _complete(flow.evolve(account_id=account_id), trust_device=False)
    assert device_code is not None and code_digest is not None
    waiting = flow.evolve(
        state=AWAITING_DEVICE_CODE, account_id=account_id,
        messages=(Feedback("login.new_device",
                          "This device is new to us. Enter the code we just sent you to "
                          "confirm it is you."),),
    )
    waiting = with_code_sent(waiting, DEVICE_CODE, digest=code_digest, sent_at=now,
                             expires_at=now + code_lifetime, failures=0)
    return StepResult(waiting, (
        device_code,
        RecordEvent(EventKind.NEW_DEVICE, Outcome.SUCCESS, account_id, {}),
    ))


def _complete(flow: Flow, *, trust_device: bool) -> StepResult:
    account_id = account_id_of(flow)
    methods = methods_used(flow) or ("password",)
    done = with_code_spent(flow.evolve(
        state=COMPLETED, account_id=account_id,
        messages=(Feedback("login.completed", "You are signed in."),)), DEVICE_CODE)
    effects: list[Effect] = [IssueSession(account_id, methods, trust_device=trust_device),
               RecordEvent(EventKind.LOGIN, Outcome.SUCCESS, account_id,
                           {"methods": list(methods)})]
    if trust_device:
        effects.insert(1, RecordEvent(EventKind.DEVICE_CONFIRMED, Outcome.SUCCESS, account_id,
                                      {}))
    return StepResult(done, tuple(effects))


def masked_identifier(identifier: Identifier) -> str:
    return identifier.masked()


SPEC = FlowSpec(kind=FlowKind.LOGIN, states=STATES, transitions=TRANSITIONS, start=_start,
                open_methods=open_methods, public_data=factor_data)
