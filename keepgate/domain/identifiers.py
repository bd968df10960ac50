"""Sign-up and sign-in identifiers: an email address or a mobile number in E.164."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from keepgate.domain.errors import InvalidEmail, InvalidIdentifier, InvalidPhone

MAX_IDENTIFIER_LENGTH = 254


class IdentifierKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: IdentifierKind
    value: str  # canonical: lower-cased email, or E.164 phone number

    def masked(self) -> str:
        """A hint safe to show back to the person typing it (never used to confirm existence)."""
        if self.kind is IdentifierKind.EMAIL:
            local, _, domain = self.value.partition("@")
            return f"{local[:1]}{'•' * max(len(local) - 1, 1)}@{domain}"
        return f"{self.value[:3]}{'•' * (len(self.value) - 5)}{self.value[-2:]}"


def parse_email(raw: str) -> Identifier:
    try:
        # No DNS: deliverability is proven by the code we send, not by a lookup.
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"That email address is not valid: {exc}") from None
    # Addresses are matched case-insensitively: two accounts must never differ by case alone.
    return Identifier(IdentifierKind.EMAIL, result.normalized.lower())


def parse_phone(raw: str) -> Identifier:
    text = raw.strip()
    if not text.startswith("+"):
        raise InvalidPhone(
            "Enter the mobile number in international format: + and the country code first.")
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPhone()
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Identifier(IdentifierKind.PHONE, e164)


def parse_identifier(raw: str) -> Identifier:
    """Parse what a person typed into the identifier field; raises ``InvalidIdentifier``."""
    text = raw.strip()
    if not text or len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifier()
    if "@" in text:
        return parse_email(text)
    if text[0] == "+" or text[0].isdigit():
        return parse_phone(text)
    raise InvalidIdentifier()
