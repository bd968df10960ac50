"""Registration: identifier + password + terms, then a code sent to the identifier.

```mermaid
stateDiagram-v2
    [*] --> awaiting_credentials
    awaiting_credentials --> awaiting_code : password
    awaiting_code --> awaiting_code : code
    awaiting_code --> completed : code
    awaiting_code --> failed : code
    completed --> [*]
    failed --> [*]
```

An identifier that already has an account takes the same path and the same answers: the flow
moves to ``awaiting_code`` and reports a code as sent, but what is sent is a notice to the
owner ("someone tried to register with your address"), and no code can ever complete the flow.
Only the owner's inbox learns that the attempt happened.

Wrong codes count against the flow; a resend gives a new code but never resets the count, and
the fifth failure ends the flow (``failed``): the person starts again, and the per-destination
send limit bounds how many codes an attacker can try in an hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import (
    CodeAttemptsExhausted,
    CodeExpired,
    InvalidCode,
    ResendTooSoon,
)
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import CodePolicy, Policies
from keepgate.flows.base import (
    COMPLETED,
    FAILED,
    Channel,
    CreateAccount,
    Feedback,
    Flow,
    FlowKind,
    RecordEvent,
    SendToContact,
    StepResult,
    Transitions,
    from_iso,
    iso,
)
from keepgate.flows.base import open_methods as table_methods
from keepgate.flows.context import captcha_required
from keepgate.flows.spec import FlowSpec, Opening
from keepgate.security.codes import CodeDigester
from keepgate.security.errors import InvalidCodeDigest

AWAITING_CREDENTIALS = "awaiting_credentials"
AWAITING_CODE = "awaiting_code"
STATES = frozenset({AWAITING_CREDENTIALS, AWAITING_CODE, COMPLETED, FAILED})
CODE_PURPOSE = "registration"

TRANSITIONS: Transitions = {
    AWAITING_CREDENTIALS: {"password": frozenset({AWAITING_CODE})},
    AWAITING_CODE: {"code": frozenset({AWAITING_CODE, COMPLETED, FAILED})},
    COMPLETED: {},
    FAILED: {},
}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.REGISTRATION, channel=channel,
                state=AWAITING_CREDENTIALS, created_at=now, expires_at=now + lifetime,
                binding=binding)


def _start(opening: Opening) -> Flow:
    return start(opening.flow_id, opening.channel, opening.now,
                 opening.policies.flows.registration_lifetime, opening.binding)


def open_methods(flow: Flow) -> tuple[str, ...]:
    """The table's methods, and ``captcha`` once proof of work was demanded."""
    methods = table_methods(TRANSITIONS, flow.state)
    return (*methods, "captcha") if captcha_required(flow) else methods


def _sent_message(identifier: Identifier) -> Feedback:
    where = "email address" if identifier.kind is IdentifierKind.EMAIL else "phone"
    return Feedback("code.sent", f"We sent a 6-digit code to your {where} {identifier.masked()}.")


def _code_message(code: str, identifier: Identifier, policy: CodePolicy) -> SendToContact:
    minutes = int(policy.lifetime.total_seconds() // 60)
    return SendToContact("registration_code", identifier, {"code": code, "minutes": minutes})


def submit_credentials(
    flow: Flow,
    *,
    identifier: Identifier,
    password_hash: str,
    existing_account_id: str | None,
    code: str,
    digester: CodeDigester,
    now: datetime,
    policy: CodePolicy,
    notify_owner: bool = True,
) -> StepResult:
    """Move to ``awaiting_code``. Validation (identifier, password, terms) happened before."""
    existing = existing_account_id is not None
    digest = None if existing else digester.digest(code, purpose=CODE_PURPOSE, binding=flow.id)
    new = flow.evolve(
        state=AWAITING_CODE,
        messages=(_sent_message(identifier),),
    ).with_context(
        identifier_kind=identifier.kind.value,
        identifier=identifier.value,
        password_hash=password_hash,
        existing=existing,
        code_digest=digest,
        code_expires_at=iso(now + policy.lifetime),
        failures=0,
        last_sent_at=iso(now),
    )
    if existing:
        # The owner hears of it, at most once an hour (``notify_owner``): strangers must not
        # be able to flood an inbox through the sign-up form.
        notice = (SendToContact("registration_attempt_existing", identifier, {}),) \
            if notify_owner else ()
        effects: tuple[SendToContact | RecordEvent, ...] = (
            *notice,
            RecordEvent(EventKind.SIGNUP_ATTEMPT_EXISTING, Outcome.FAILURE, existing_account_id,
                        {"identifier": identifier.masked()}),
        )
    else:
        # Recorded as the existing-address attempt is: both answers cost the same writes.
        effects = (_code_message(code, identifier, policy),
                   RecordEvent(EventKind.SIGNUP_CODE_SENT, Outcome.SUCCESS, None,
                               {"identifier": identifier.masked()}))
    return StepResult(new, effects)


def identifier_of(flow: Flow) -> Identifier:
    return Identifier(IdentifierKind(flow.context["identifier_kind"]), flow.context["identifier"])


def submit_code(flow: Flow, *, code: str, digester: CodeDigester, now: datetime,
                policy: CodePolicy) -> StepResult:
    failures = int(flow.context.get("failures", 0))
    if now >= from_iso(flow.context["code_expires_at"]):
        error = CodeExpired()
        return StepResult(flow.evolve(messages=(Feedback(error.code, error.message, "error"),)),
                          error=error)
    try:
        digester.verify(flow.context.get("code_digest"), code, purpose=CODE_PURPOSE,
                        binding=flow.id)
    except InvalidCodeDigest:
        failures += 1
        if failures >= policy.max_failures:
            exhausted = CodeAttemptsExhausted(
                "Too many wrong codes. Start the sign-up again.")
            failed = flow.evolve(
                state=FAILED, messages=(Feedback(exhausted.code, exhausted.message, "error"),)
            ).with_context(failures=failures, code_digest=None, password_hash=None)
            return StepResult(failed, error=exhausted)
        left = policy.max_failures - failures
        wrong = InvalidCode(f"That code is not correct. {left} attempt{'s' if left != 1 else ''}"
                            " left.", details={"attempts_left": left})
        return StepResult(
            flow.evolve(messages=(Feedback(wrong.code, wrong.message, "error"),))
            .with_context(failures=failures),
            error=wrong,
        )
    identifier = identifier_of(flow)
    done = flow.evolve(
        state=COMPLETED,
        messages=(Feedback("registration.completed",
                          "Your account is ready. You are signed in."),),
    ).with_context(code_digest=None, password_hash=None)
    return StepResult(done, (CreateAccount(identifier, flow.context["password_hash"]),))


def check_resend(flow: Flow, *, now: datetime, policy: CodePolicy) -> None:
    """Raise ``ResendTooSoon`` inside the cooldown (checked before any budget is spent)."""
    ready_at = from_iso(flow.context["last_sent_at"]) + policy.resend_cooldown
    if now < ready_at:
        wait = ready_at - now  # whole seconds, rounded up: waiting that long always suffices
        raise ResendTooSoon(retry_after=max(1, -(-(wait // timedelta(microseconds=1)) // 10**6)))


def resend_code(flow: Flow, *, code: str, digester: CodeDigester, now: datetime,
                policy: CodePolicy) -> StepResult:
    """A new code after the cooldown; the caller has spent the per-destination budget.

    The failure count carries over. For an identifier that already has an account nothing is
    sent (its owner already had one notice), but the answer and the limits are the same.
    """
    check_resend(flow, now=now, policy=policy)
    identifier = identifier_of(flow)
    existing = bool(flow.context.get("existing"))
    digest = None if existing else digester.digest(code, purpose=CODE_PURPOSE, binding=flow.id)
    new = flow.evolve(messages=(_sent_message(identifier),)).with_context(
        code_digest=digest, code_expires_at=iso(now + policy.lifetime), last_sent_at=iso(now)
    )
    effects = () if existing else (_code_message(code, identifier, policy),)
    return StepResult(new, effects)


def public_data(flow: Flow, policy: CodePolicy) -> dict[str, object]:
    """What the flow shows its client: never the existence bit, digests or hashes."""
    if flow.state != AWAITING_CODE:
        return {}
    identifier = identifier_of(flow)
    ready_at = from_iso(flow.context["last_sent_at"]) + policy.resend_cooldown
    return {
        "sent_to": identifier.masked(),
        "channel": "email" if identifier.kind is IdentifierKind.EMAIL else "sms",
        "code_expires_at": from_iso(flow.context["code_expires_at"]),
        "resend_available_at": ready_at,
        "attempts_left": policy.max_failures - int(flow.context.get("failures", 0)),
    }


def _public_data(flow: Flow, methods: tuple[str, ...], policies: Policies) -> dict[str, Any]:
    return dict(public_data(flow, policies.codes))


SPEC = FlowSpec(kind=FlowKind.REGISTRATION, states=STATES, transitions=TRANSITIONS,
                start=_start, open_methods=open_methods, public_data=_public_data)
