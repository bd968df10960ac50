"""Sign-up and sign-in identifiers: an email address or a mobile number in E.164.

Parsing for sign-in accepts any valid address or number, so an account keeps signing in with
what it has. A *new* contact (sign-up, a contact change, a number enrolled for SMS codes) must
also be one we can and will send codes to:

* no premium-rate, shared-cost, UAN, personal (forwarding), pager or voicemail numbers: codes
  sent there cost us money that flows to whoever rents the number (toll fraud), or never
  reach a phone. Mobile, fixed-line, VoIP and toll-free numbers are fine.
* no email address whose local part is not ASCII (``аlice@`` with a Cyrillic ``а``): an SMTP
  server without SMTPUTF8 can never deliver to it, and such an address is the easiest way to
  make an account that looks like someone else's. Refusing beats comparing confusable
  skeletons, which would need a stored skeleton of every address. An internationalised
  *domain* is fine: it travels as punycode.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from keepgate.domain.errors import (
    EmailNotAscii,
    InvalidEmail,
    InvalidIdentifier,
    InvalidPhone,
    PhoneTypeRefused,
)

MAX_IDENTIFIER_LENGTH = 254
REFUSED_PHONE_TYPES = frozenset({
    phonenumbers.PhoneNumberType.PREMIUM_RATE, phonenumbers.PhoneNumberType.SHARED_COST,
    phonenumbers.PhoneNumberType.UAN, phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER, phonenumbers.PhoneNumberType.VOICEMAIL,
})


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


def parse_email(raw: str, *, new_contact: bool = False) -> Identifier:
    try:
        # No DNS: deliverability is proven by the code we send, not by a lookup.
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"That email address is not valid: {exc}") from None
    # Addresses are matched case-insensitively: two accounts must never differ by case alone.
    email = Identifier(IdentifierKind.EMAIL, result.normalized.lower())
    return check_new_contact(email) if new_contact else email


def parse_phone(raw: str, *, new_contact: bool = False) -> Identifier:
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
    phone = Identifier(IdentifierKind.PHONE, e164)
    return check_new_contact(phone) if new_contact else phone


def check_new_contact(identifier: Identifier) -> Identifier:
    """``identifier`` if we may send codes to it as a new contact; else ``InvalidIdentifier``
    (see the module docstring for what is refused, and why)."""
    if identifier.kind is IdentifierKind.EMAIL:
        local, _, _ = identifier.value.rpartition("@")
        if not local.isascii():
            raise EmailNotAscii()
        return identifier
    if phonenumbers.number_type(phonenumbers.parse(identifier.value)) in REFUSED_PHONE_TYPES:
        raise PhoneTypeRefused()
    return identifier


def parse_identifier(raw: str, *, new_contact: bool = False) -> Identifier:
    """Parse what a person typed into the identifier field; raises ``InvalidIdentifier``.
    ``new_contact`` also refuses what ``check_new_contact`` does."""
    text = raw.strip()
    if not text or len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifier()
    if "@" in text:
        return parse_email(text, new_contact=new_contact)
    if text[0] == "+" or text[0].isdigit():
        return parse_phone(text, new_contact=new_contact)
    raise InvalidIdentifier()
