"""The one place where every outgoing email and SMS is rendered.

Every message goes through ``MessageRenderer.render``, which is also where the account's
anti-phishing code is stamped into the message, so no template can forget it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Any

from keepgate.domain.identifiers import Identifier, IdentifierKind


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    subject: str
    email: str
    sms: str


TEMPLATES: dict[str, MessageTemplate] = {
    "registration_code": MessageTemplate(
        subject="Your Keepgate sign-up code",
        email=(
            "Your code to finish creating your Keepgate account is:\n\n"
            "    $code\n\n"
            "It expires in $minutes minutes. Keepgate staff will never ask you for this code.\n"
            "If you did not try to create an account, you can ignore this message."
        ),
        sms="Keepgate sign-up code: $code (valid $minutes min). Never share it with anyone.",
    ),
    "registration_attempt_existing": MessageTemplate(
        subject="Someone tried to create an account with your address",
        email=(
            "Someone just tried to create a new Keepgate account with this address, which\n"
            "already has an account. No new account was created, and none can be without access\n"
            "to this inbox.\n\n"
            "If it was you, sign in instead: $public_url/login\n"
            "If it was not you, no action is needed."
        ),
        sms=(
            "Someone tried to sign up to Keepgate with this number, which already has an "
            "account. If it was you, sign in instead. Otherwise no action is needed."
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    channel: str
    destination: str
    template: str
    subject: str
    body: str


class MessageRenderer:
    def __init__(self, public_url: str) -> None:
        self._public_url = public_url.rstrip("/")

    def render(self, template: str, to: Identifier, params: Mapping[str, Any],
               anti_phishing_code: str | None = None) -> RenderedMessage:
        spec = TEMPLATES[template]
        values = {"public_url": self._public_url, **params}
        if to.kind is IdentifierKind.EMAIL:
            body = Template(spec.email).substitute(values)
            if anti_phishing_code:
                body = f"Your anti-phishing code: {anti_phishing_code}\n\n{body}"
            body += f"\n\n--\nKeepgate · {self._public_url}"
            return RenderedMessage("email", to.value, template, spec.subject, body)
        text = Template(spec.sms).substitute(values)
        if anti_phishing_code:
            text = f"[{anti_phishing_code}] {text}"
        return RenderedMessage("sms", to.value, template, "", text)
