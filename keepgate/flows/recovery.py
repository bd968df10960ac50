"""Recovery: a forgotten password, reset with a code, the second factor, and a new password.

```mermaid
stateDiagram-v2
    [*] --> awaiting_identifier
    awaiting_identifier --> awaiting_code : identifier
    awaiting_code --> awaiting_code : code
    awaiting_code --> awaiting_second_factor : code
    awaiting_code --> awaiting_password : code
    awaiting_code --> failed : code
    awaiting_second_factor --> awaiting_second_factor : totp
    awaiting_second_factor --> awaiting_password : totp
    awaiting_second_factor --> awaiting_second_factor : sms_code
    awaiting_second_factor --> awaiting_password : sms_code
    awaiting_second_factor --> awaiting_second_factor : recovery_code
    awaiting_second_factor --> awaiting_password : recovery_code
    awaiting_second_factor --> awaiting_second_factor : webauthn
    awaiting_second_factor --> awaiting_password : webauthn
    awaiting_password --> awaiting_password : new_password
    awaiting_password --> completed : new_password
    completed --> [*]
    failed --> [*]
```

The customer types the email address or phone number the code should go to: an email
address gets an email, a number an SMS. An identifier without an account takes the same path
and gets the same answers: the flow moves to ``awaiting_code`` and says a code was sent, but
no digest is kept (no code can match) and at most a notice goes to the address. What the
flow keeps about the account it found stays private until the code proves the address.

A reset never bypasses the second factor: an account with one proves it next, through the
same checks as sign-in. The emailed or texted code already proved that contact, so the same
kind of proof is not offered again: never an email code, and no SMS code after an SMS reset.
The fifth wrong reset code ends the flow. Completing it replaces the password, ends every
session, forgets trusted devices, holds withdrawals and tells the owner on every channel; a
"this wasn't me" lock stays in place (the answer says so only to whoever got this far).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from keepgate.domain.audit import EventKind, Outcome
from keepgate.domain.errors import CodeAttemptsExhausted, KeepgateError
from keepgate.domain.factors import FACTOR_PREFERENCE
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import Policies
from keepgate.flows.base import (
    COMPLETED,
    FAILED,
    Channel,
    Feedback,
    Flow,
    FlowKind,
    RecordEvent,
    ResetPassword,
    StepResult,
    Transitions,
)
from keepgate.flows.base import open_methods as table_methods
from keepgate.flows.context import (
    captcha_required,
    enrolled_factors,
    recovery_codes_left,
    sent_code,
    with_captcha_required,
)
from keepgate.flows.spec import FlowSpec, Opening

AWAITING_IDENTIFIER = "awaiting_identifier"
AWAITING_CODE = "awaiting_code"
AWAITING_SECOND_FACTOR = "awaiting_second_factor"
AWAITING_PASSWORD = "awaiting_password"  # noqa: S105 (a state name)
STATES = frozenset({AWAITING_IDENTIFIER, AWAITING_CODE, AWAITING_SECOND_FACTOR,
                    AWAITING_PASSWORD, COMPLETED, FAILED})
CODE = "code"  # the method, and its code's slot in the context
CODE_PURPOSE = "recovery"
# What can prove a second factor after a reset code: never an email code, which proves the
# same mailbox again (SECURITY.md, "email as a factor").
SECOND_FACTORS = ("totp", "sms_code", "recovery_code", "webauthn")
_AFTER_FACTOR = frozenset({AWAITING_SECOND_FACTOR, AWAITING_PASSWORD})

TRANSITIONS: Transitions = {
    AWAITING_IDENTIFIER: {"identifier": frozenset({AWAITING_CODE})},
    AWAITING_CODE: {CODE: frozenset({AWAITING_CODE, AWAITING_SECOND_FACTOR, AWAITING_PASSWORD,
                                     FAILED})},
    AWAITING_SECOND_FACTOR: {method: _AFTER_FACTOR for method in SECOND_FACTORS},
    AWAITING_PASSWORD: {"new_password": frozenset({AWAITING_PASSWORD, COMPLETED})},
    COMPLETED: {},
    FAILED: {},
}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.RECOVERY, channel=channel, state=AWAITING_IDENTIFIER,
                created_at=now, expires_at=now + lifetime, binding=binding,
                messages=(Feedback("recovery.identifier",
                                  "Enter the email address or phone number of your account. "
                                  "We will send a code to it."),))


def _start(opening: Opening) -> Flow:
    return start(opening.flow_id, opening.channel, opening.now,
                 opening.policies.flows.login_lifetime, opening.binding)


def open_methods(flow: Flow) -> tuple[str, ...]:
    """The table's methods; awaiting a factor, the account's (strongest first); ``captcha``
    once proof of work was demanded."""
    if flow.state == AWAITING_SECOND_FACTOR:
        enrolled = set(enrolled_factors(flow) or ())
        methods: tuple[str, ...] = tuple(m for m in FACTOR_PREFERENCE if m in enrolled)
    else:
        methods = table_methods(TRANSITIONS, flow.state)
    if captcha_required(flow) and flow.state == AWAITING_IDENTIFIER:
        methods += ("captcha",)
    return methods


# What the flow keeps, readable only here and by the reset methods.


def identifier_of(flow: Flow) -> Identifier:
    return Identifier(IdentifierKind(flow.context["identifier_kind"]), flow.context["identifier"])


def candidate_of(flow: Flow) -> str | None:
    """The account the identifier named, if any: private until the code proves the address."""
    found = flow.context.get("candidate")
    return None if found is None else str(found)


def channel_of(flow: Flow) -> str:
    return "email" if identifier_of(flow).kind is IdentifierKind.EMAIL else "sms"


def methods_used(flow: Flow) -> tuple[str, ...]:
    return tuple(flow.context.get("methods_used", ()))


def locked(flow: Flow) -> bool:
    return bool(flow.context.get("locked"))


def code_sent_message(identifier: Identifier) -> Feedback:
    """The same words whether or not the identifier has an account."""
    where = "email address" if identifier.kind is IdentifierKind.EMAIL else "phone"
    return Feedback("recovery.code_sent",
                   f"If {identifier.masked()} belongs to an account, we sent a 6-digit code "
                   f"to that {where}. Enter it to continue.")


def identified(flow: Flow, *, identifier: Identifier, account_id: str | None) -> Flow:
    """On to ``awaiting_code``, whether or not ``identifier`` has an account; the code (or,
    for a stranger's address, at most a notice) is sent by the caller, which keeps no digest
    for an identifier without an account, so no code can ever match."""
    waiting = flow.evolve(state=AWAITING_CODE, messages=(code_sent_message(identifier),))
    return with_captcha_required(waiting.with_context(
        identifier_kind=identifier.kind.value, identifier=identifier.value,
        identifier_value=identifier.value, masked_identifier=identifier.masked(),
        candidate=account_id), False)


def code_refused(flow: Flow, error: KeepgateError, *, killed: bool) -> StepResult:
    """A wrong, expired or spent code. The fifth wrong one ends the flow: start again."""
    if killed:
        exhausted = CodeAttemptsExhausted("Too many wrong codes. Start the recovery again.")
        return StepResult(flow.evolve(state=FAILED, messages=(
            Feedback(exhausted.code, exhausted.message, "error"),)), error=exhausted)
    return StepResult(flow.evolve(messages=(Feedback(error.code, error.message, "error"),)),
                      error=error)


def code_accepted(flow: Flow, *, account_id: str, factors: tuple[str, ...],
                  locked_account: bool) -> StepResult:
    """The address is proven: on to the second factor the account has, or the new password.

    ``factors`` are what may prove the second factor here (``usable_factors``); an account
    that has factors but none usable here cannot finish this way.
    """
    proven = flow.with_context(account_id=account_id, locked=locked_account, methods_used=[
        "email_code" if channel_of(flow) == "email" else "sms_code"])
    event = RecordEvent(EventKind.RECOVERY_CODE_CONFIRMED, Outcome.SUCCESS, account_id,
                        {"channel": channel_of(flow)})
    if factors:
        return StepResult(proven.evolve(
            state=AWAITING_SECOND_FACTOR, account_id=account_id,
            messages=(Feedback("recovery.second_factor_required",
                              "Your account has a second factor. Confirm it is you with it "
                              "before you choose a new password."),),
        ).with_context(factors=list(factors)), (event,))
    return StepResult(_awaiting_password(proven.evolve(account_id=account_id)), (event,))


def usable_factors(flow: Flow, enrolled: tuple[str, ...]) -> tuple[str, ...]:
    """The account's factors that may follow this flow's code: no email code, and no SMS
    code when the reset code itself came by SMS."""
    used = "sms_code" if channel_of(flow) == "sms" else "email_code"
    return tuple(m for m in enrolled if m in SECOND_FACTORS and m != used)


def no_usable_factor(flow: Flow) -> StepResult:
    """The account has a second factor, but none that can follow this code."""
    other = "email address" if channel_of(flow) == "sms" else "phone number"
    return StepResult(flow.evolve(state=FAILED, messages=(Feedback(
        "recovery.second_factor_unavailable",
        f"Your second factor cannot be confirmed after this code. Start again with your "
        f"{other}, or use a recovery code.", "error"),)))


def second_factor_passed(flow: Flow, *, method: str) -> StepResult:
    account_id = str(flow.context["account_id"])
    passed = flow.with_context(methods_used=[*methods_used(flow), method])
    return StepResult(_awaiting_password(passed), (
        RecordEvent(EventKind.SECOND_FACTOR, Outcome.SUCCESS, account_id,
                    {"method": method, "flow": FlowKind.RECOVERY.value}),))


def _awaiting_password(flow: Flow) -> Flow:
    return flow.evolve(state=AWAITING_PASSWORD, messages=(Feedback(
        "recovery.choose_password",
        "Choose a new password. Every device will be signed out."),))


def password_chosen(flow: Flow, *, password_hash: str) -> StepResult:
    """Done: the service replaces the password and carries out everything a reset implies."""
    account_id = str(flow.context["account_id"])
    text = "Your password was changed. Every device was signed out; sign in with it."
    if locked(flow):
        # Only someone who proved the address and the second factor gets this far.
        text = ("Your password was changed, but sign-in to this account stays locked, as "
                "you asked. Contact support to unlock it.")
    done = flow.evolve(state=COMPLETED, messages=(Feedback("recovery.completed", text),))
    return StepResult(done, (ResetPassword(account_id, password_hash, methods_used(flow)),))


def public_data(flow: Flow, methods: tuple[str, ...], policies: Policies) -> dict[str, Any]:
    """What the client sees: where the code went as typed, never whether an account exists."""
    if flow.state == AWAITING_CODE:
        pending = sent_code(flow, CODE)
        assert pending.sent_at is not None
        return {"sent_to": identifier_of(flow).masked(), "channel": channel_of(flow),
                "code_expires_at": pending.expires_at,
                "resend_available_at": pending.sent_at + policies.codes.resend_cooldown,
                "attempts_left": max(0, policies.codes.max_failures - pending.failures)}
    if flow.state == AWAITING_SECOND_FACTOR:
        data: dict[str, Any] = {"factors": list(methods)}
        left = recovery_codes_left(flow)
        if left is not None:
            data["recovery_codes_left"] = left
        return data
    if flow.state == COMPLETED:
        return {"locked": locked(flow)}
    return {}


SPEC = FlowSpec(kind=FlowKind.RECOVERY, states=STATES, transitions=TRANSITIONS, start=_start,
                open_methods=open_methods, public_data=public_data)
