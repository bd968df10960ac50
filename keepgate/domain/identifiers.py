"""Sign-up and sign-in identifiers: an email address or a mobile number in E.164.

A number may be typed in its national format when the country comes with it (the forms'
country picker, the API's ``country``); it is stored in E.164 and shown to people in the
international format (``+44 7400 123456``), never as raw E.164.

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
from functools import cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from phonenumbers.geocoder import country_name_for_number

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
        return mask_phone(self.value)

    def display(self) -> str:
        """How the identifier is shown to its owner: a number in international format."""
        return display_phone(self.value) if self.kind is IdentifierKind.PHONE else self.value


def mask_phone(e164: str) -> str:
    """A number formatted as its owner knows it, every digit after the country code hidden
    but the last two: ``+44 •••• ••••56``."""
    number = phonenumbers.parse(e164)
    prefix = f"+{number.country_code}"
    formatted = display_phone(e164)
    rest = formatted[len(prefix):] if formatted.startswith(prefix) else e164[len(prefix):]
    digits = sum(ch.isdigit() for ch in rest)
    shown, seen = [], 0
    for ch in rest:
        if ch.isdigit():
            seen += 1
            shown.append(ch if seen > digits - 2 else "•")
        else:
            shown.append(ch)
    return prefix + "".join(shown)


def display_phone(e164: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(e164),
                                      phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@dataclass(frozen=True, slots=True)
class Country:
    """A choice in the country picker."""

    region: str  # ISO 3166-1 alpha-2, as phonenumbers names regions
    name: str
    calling_code: int


def _countries() -> tuple[Country, ...]:
    found = []
    for region in phonenumbers.SUPPORTED_REGIONS:
        example = phonenumbers.example_number(region)
        if example is not None and example.country_code is not None:
            found.append(Country(region, country_name_for_number(example, "en") or region,
                                 example.country_code))
    return tuple(sorted(found, key=lambda c: c.name))


COUNTRIES = _countries()
_REGIONS = frozenset(c.region for c in COUNTRIES)


def known_country(region: str | None) -> str | None:
    """``region`` upper-cased if the picker offers it, else ``None``."""
    upper = (region or "").upper()
    return upper if upper in _REGIONS else None


def country_from_accept_language(header: str) -> str | None:
    """The region of the first language tag that names one (``en-GB`` -> ``GB``)."""
    for item in header.split(",")[:10]:
        tag = item.split(";")[0].strip()
        for subtag in tag.split("-")[1:]:
            if len(subtag) == 2 and subtag.isalpha():
                return known_country(subtag)
    return None


@cache
def phone_example(region: str) -> str | None:
    """A mobile number of ``region`` in international format, for the hint; ``None`` if the
    metadata has none that we would accept."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if number is None or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) in REFUSED_PHONE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def parse_email(raw: str, *, new_contact: bool = False) -> Identifier:
    try:
        # No DNS: deliverability is proven by the code we send, not by a lookup.
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"That email address is not valid: {exc}") from None
    # Addresses are matched case-insensitively: two accounts must never differ by case alone.
    email = Identifier(IdentifierKind.EMAIL, result.normalized.lower())
    return check_new_contact(email) if new_contact else email


def parse_phone(raw: str, *, new_contact: bool = False, country: str | None = None) -> Identifier:
    """A number in international format, or in the national format of ``country``."""
    text = raw.strip()
    region = None if text.startswith("+") else known_country(country)
    if not text.startswith("+") and region is None:
        raise InvalidPhone("Choose the country of the mobile number, or enter it in "
                           "international format: + and the country code first.")
    try:
        number = phonenumbers.parse(text, region)
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


def parse_identifier(raw: str, *, new_contact: bool = False,
                     country: str | None = None) -> Identifier:
    """Parse what a person typed into the identifier field; raises ``InvalidIdentifier``.
    ``new_contact`` also refuses what ``check_new_contact`` does; ``country`` is the region
    a national-format number belongs to."""
    text = raw.strip()
    if not text or len(text) > MAX_IDENTIFIER_LENGTH:
        raise InvalidIdentifier()
    if "@" in text:
        return parse_email(text, new_contact=new_contact)
    if text[0] == "+" or text[0].isdigit():
        return parse_phone(text, new_contact=new_contact, country=country)
    raise InvalidIdentifier()
