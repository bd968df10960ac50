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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from keepgate.domain.access import Action
from keepgate.domain.identifiers import Identifier, IdentifierKind
from keepgate.domain.policy import Policies
from keepgate.flows.base import Channel, Flow, FlowKind, Transitions
from keepgate.flows.base import open_methods as table_methods
from keepgate.flows.context import captcha_required
from keepgate.flows.spec import Access, FlowSpec, Opening

READY = "ready"
STATES = frozenset({READY})
METHODS = ("totp", "sms_code", "email_code", "webauthn", "recovery_code", "contact")

TRANSITIONS: Transitions = {READY: {method: frozenset({READY}) for method in METHODS}}
ACTIONS = {"totp": Action.ADD_FACTOR, "sms_code": Action.ADD_FACTOR,
           "email_code": Action.ADD_FACTOR, "webauthn": Action.ADD_FACTOR,
           "recovery_code": Action.REGENERATE_RECOVERY_CODES, "contact": Action.CHANGE_CONTACT}


def start(flow_id: str, channel: Channel, now: datetime, lifetime: timedelta, *,
          account_id: str, session_id: str, account_name: str,
          binding: str | None = None) -> Flow:
    return Flow(id=flow_id, kind=FlowKind.SETTINGS, channel=channel, state=READY,
                created_at=now, expires_at=now + lifetime, binding=binding,
                account_id=account_id, session_id=session_id,
                context={"account_id": account_id, "session_id": session_id,
                         "account_name": account_name})


def _start(opening: Opening) -> Flow:
    owner = opening.signed_in
    return start(opening.flow_id, opening.channel, opening.now,
                 opening.policies.flows.login_lifetime, account_id=owner.account_id,
                 session_id=owner.session_id, account_name=owner.account_name,
                 binding=opening.binding)


def open_methods(flow: Flow) -> tuple[str, ...]:
    methods = table_methods(TRANSITIONS, flow.state)
    return (*methods, "captcha") if captcha_required(flow) else methods


def account_name(flow: Flow) -> str:
    """How an authenticator app names the account: its email, phone, or id."""
    return str(flow.context["account_name"])


def pending_totp(flow: Flow) -> str | None:
    """The sealed TOTP secret waiting for its first code, if one was asked for."""
    sealed = flow.context.get("totp_pending")
    return str(sealed) if sealed else None


def with_pending_totp(flow: Flow, sealed: str | None) -> Flow:
    return flow.with_context(totp_pending=sealed)


@dataclass(frozen=True, slots=True)
class ContactChange:
    """A new email or phone waiting for its code, and the account version it applies to."""

    new: Identifier
    expected_version: int


def pending_contact(flow: Flow) -> ContactChange:
    return ContactChange(Identifier(IdentifierKind(str(flow.context["contact_kind"])),
                                    str(flow.context["contact_value"])),
                         int(flow.context["contact_version"]))


def with_pending_contact(flow: Flow, change: ContactChange) -> Flow:
    return flow.with_context(contact_kind=change.new.kind.value, contact_value=change.new.value,
                             contact_version=change.expected_version)


def contact_changed(flow: Flow) -> Flow:
    """The change is made: the new value is no longer kept."""
    return flow.with_context(contact_value=None)


def _public_data(flow: Flow, methods: tuple[str, ...], policies: Policies) -> dict[str, Any]:
    # The pending TOTP secret is sealed: only the web layer, holding the key ring, shows it.
    return {}


SPEC = FlowSpec(kind=FlowKind.SETTINGS, states=STATES, transitions=TRANSITIONS, start=_start,
                open_methods=open_methods, public_data=_public_data, access=Access.PRIVILEGED,
                actions=ACTIONS)
