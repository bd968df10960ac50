"""keepgate.domain.identifiers: parsing, canonical forms, stable error codes and masking."""

from __future__ import annotations

import pytest

from keepgate.domain.errors import InputRejected, InvalidIdentifier
from keepgate.domain.identifiers import (
    COUNTRIES,
    MAX_IDENTIFIER_LENGTH,
    Identifier,
    IdentifierKind,
    check_new_contact,
    country_from_accept_language,
    display_phone,
    parse_email,
    parse_identifier,
    parse_phone,
    phone_example,
)

# Numbers the installed phonenumbers metadata accepts as valid. (+447700900123, Ofcom's drama
# range, is *not* valid in phonenumbers 9.x, so it is deliberately not used here.)
VALID_PHONES = {
    "+447911123456": "+447911123456",
    "+44 7911 123456": "+447911123456",
    "+1 (415) 555-2671": "+14155552671",
    "+14155552671": "+14155552671",
    "+33612345678": "+33612345678",
    "+4915123456789": "+4915123456789",
    "  +12025550123  ": "+12025550123",
}


# --- email ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("jane.doe@example.com", "jane.doe@example.com"),
        ("Jane.Doe@Example.COM", "jane.doe@example.com"),
        ("JANE.DOE@EXAMPLE.COM", "jane.doe@example.com"),
        ("  x@EXAMPLE.org  ", "x@example.org"),
        ("user+tag@sub.example.co.uk", "user+tag@sub.example.co.uk"),
    ],
)
def test_email_is_canonicalised_lower_case(raw: str, canonical: str) -> None:
    ident = parse_identifier(raw)
    assert ident == Identifier(IdentifierKind.EMAIL, canonical)
    assert ident.kind is IdentifierKind.EMAIL


def test_emails_differing_only_by_case_are_the_same_identifier() -> None:
    variants = ["jane@example.com", "JANE@example.com", "Jane@Example.Com", "jAnE@EXAMPLE.COM"]
    parsed = {parse_identifier(v) for v in variants}
    assert len(parsed) == 1
    assert parse_email("Jane@Example.Com") == parse_identifier("jane@example.com")


@pytest.mark.parametrize(
    "raw",
    ["a@b", "a@@b.com", "@example.com", "jane@", "jane doe@example.com", "jane@exa mple.com",
     "jane@.com", "jane..doe@example.com", "jane@example..com"],
)
def test_invalid_emails_raise_invalid_email(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw)
    assert info.value.code == "identifier.invalid_email"
    assert info.value.message


# --- phone ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "e164"), sorted(VALID_PHONES.items()))
def test_valid_phones_are_canonicalised_to_e164(raw: str, e164: str) -> None:
    ident = parse_identifier(raw)
    assert ident == Identifier(IdentifierKind.PHONE, e164)
    assert ident.value.startswith("+")
    assert ident.value[1:].isdigit()
    assert parse_phone(raw) == ident


@pytest.mark.parametrize("raw", ["447911123456", "07911123456", "00447911123456", "14155552671"])
def test_phone_without_plus_is_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw)
    assert info.value.code == "identifier.invalid_phone"
    assert "+" in info.value.message  # tells the person what to do


@pytest.mark.parametrize(
    "raw", ["+", "+1234", "+44abc", "+999123456", "+1415555267", "+44 7911 12345678901", "+abc"]
)
def test_junk_phones_are_refused(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw)
    assert info.value.code == "identifier.invalid_phone"


def test_parse_phone_rejects_missing_plus_directly() -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_phone("447911123456")
    assert info.value.code == "identifier.invalid_phone"


# --- neither ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", "   ", "hello", "jane.doe", "-447911123456", "#1"])
def test_neither_email_nor_phone_is_generic_invalid(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw)
    assert info.value.code == "identifier.invalid"
    assert info.value.message


def test_overlong_identifier_is_refused() -> None:
    raw = "a" * (MAX_IDENTIFIER_LENGTH - len("@example.com") + 1) + "@example.com"
    assert len(raw) == MAX_IDENTIFIER_LENGTH + 1
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw)
    assert info.value.code == "identifier.invalid"


def test_invalid_identifier_is_an_input_rejection() -> None:
    with pytest.raises(InputRejected):
        parse_identifier("nonsense")


# --- masking ---------------------------------------------------------------------------------

MASK_CASES = [
    "jane.doe@example.com",
    "a@example.com",
    "ab@example.com",
    "x@y.io",
    "+447911123456",
    "+14155552671",
    "+33612345678",
    "+4915123456789",
]


@pytest.mark.parametrize("raw", MASK_CASES)
def test_masked_never_reveals_the_full_identifier(raw: str) -> None:
    ident = parse_identifier(raw)
    masked = ident.masked()
    assert masked != ident.value
    assert ident.value not in masked
    assert "•" in masked


def test_masked_email_hides_local_part_but_keeps_first_letter_and_domain() -> None:
    masked = parse_identifier("jane.doe@example.com").masked()
    assert masked.startswith("j")
    assert masked.endswith("@example.com")
    assert "jane.doe" not in masked
    assert "ane.doe" not in masked


def test_masked_single_letter_local_part_still_masked() -> None:
    masked = parse_identifier("a@example.com").masked()
    assert masked == "a•@example.com"


def test_masked_phone_shows_only_country_prefix_and_last_two_digits() -> None:
    ident = parse_identifier("+447911123456")
    masked = ident.masked()
    assert masked == "+44 •••• ••••56"  # formatted as the owner knows it, never raw E.164
    # The subscriber part is hidden.
    assert "7911123456" not in masked
    assert "1234" not in masked


def test_an_unparsable_user_agent_is_never_echoed() -> None:
    from keepgate.services.devices import describe_device

    injected = "URGENT-Keepgate support: call +1-555-0100 to keep your funds"
    assert describe_device(injected) == "Unknown device"


# --- new contacts: numbers that cost money, addresses SMTP cannot carry ----------------------

REFUSED_PHONES = {
    "+19002345678": "premium-rate",
    "+449012345678": "premium-rate",
    "+33884012345": "shared-cost",
    "+4918012345": "shared-cost",
    "+445512345678": "UAN",
    "+33806123456": "UAN",
    "+447012345678": "personal number",
    "+15002345678": "personal number",
    "+447640123456": "pager",
    "+49177991234567": "voicemail",
}


@pytest.mark.parametrize("raw", sorted(REFUSED_PHONES))
def test_special_rate_numbers_are_refused_as_new_contacts(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw, new_contact=True)
    assert info.value.code == "identifier.phone_type_refused"
    assert "mobile" in info.value.message
    with pytest.raises(InvalidIdentifier):
        parse_phone(raw, new_contact=True)
    with pytest.raises(InvalidIdentifier):
        check_new_contact(Identifier(IdentifierKind.PHONE, raw))


@pytest.mark.parametrize("raw", sorted(REFUSED_PHONES))
def test_special_rate_numbers_still_parse_to_sign_in(raw: str) -> None:
    """An account that has one from before keeps signing in with it."""
    assert parse_identifier(raw).value == raw


@pytest.mark.parametrize("raw", [*sorted(VALID_PHONES), "+18002345678", "+447400123456"])
def test_ordinary_numbers_are_accepted_as_new_contacts(raw: str) -> None:
    assert parse_identifier(raw, new_contact=True) == parse_identifier(raw)


@pytest.mark.parametrize("raw", ["\u0430lice@example.com", "j\u00fcrgen@example.com",
                                 "\u7528\u6237@example.com"])
def test_non_ascii_local_parts_are_refused_as_new_contacts(raw: str) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier(raw, new_contact=True)
    assert info.value.code == "identifier.email_not_ascii"
    with pytest.raises(InvalidIdentifier):
        parse_email(raw, new_contact=True)
    assert parse_identifier(raw).kind is IdentifierKind.EMAIL  # signing in still parses


def test_an_internationalised_domain_is_accepted_as_a_new_contact() -> None:
    """Only the local part needs SMTPUTF8; a domain travels as punycode."""
    assert parse_identifier("jane@b\u00fccher.example", new_contact=True).value \
        == "jane@b\u00fccher.example"


# --- countries: national formats, display ------------------------------------------------------


@pytest.mark.parametrize(("raw", "country"), [("07400 123456", "GB"), ("7400 123456", "GB"),
                                              ("+44 7400 123456", "FR"),
                                              ("+44 7400 123456", None)])
def test_a_national_number_parses_with_its_country(raw: str, country: str | None) -> None:
    assert parse_identifier(raw, country=country).value == "+447400123456"


@pytest.mark.parametrize("country", [None, "", "ZZ", "gb1"])
def test_a_national_number_without_a_known_country_is_refused(country: str | None) -> None:
    with pytest.raises(InvalidIdentifier) as info:
        parse_identifier("07400 123456", country=country)
    assert info.value.code == "identifier.invalid_phone"


def test_numbers_are_displayed_in_international_format() -> None:
    assert parse_identifier("+447400123456").display() == "+44 7400 123456"
    assert display_phone("+14155552671") == "+1 415-555-2671"
    assert parse_identifier("a@example.com").display() == "a@example.com"


def test_the_example_shown_for_each_country_is_accepted() -> None:
    assert ("GB", "United Kingdom", 44) in [(c.region, c.name, c.calling_code)
                                           for c in COUNTRIES]
    for country in COUNTRIES:
        example = phone_example(country.region)
        if example:
            assert parse_identifier(example, new_contact=True).display() == example


@pytest.mark.parametrize(("header", "region"), [("en-GB,en;q=0.9", "GB"), ("de-at", "AT"),
                                                ("fr", None), ("", None), ("zh-Hans-CN", "CN"),
                                                ("en-ZZ", None)])
def test_the_country_defaults_from_accept_language(header: str, region: str | None) -> None:
    assert country_from_accept_language(header) == region
