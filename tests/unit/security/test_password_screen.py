"""keepgate.security.password_screen: length, identifier words, common and weak passwords."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from keepgate.domain.errors import InputRejected, PasswordRejected
from keepgate.domain.policy import PasswordPolicy
from keepgate.security.password_screen import ZXCVBN_MAX, screen_password

POLICY = PasswordPolicy()
EMAIL = "jane.doe@example.com"
PHONE = "+447911123456"
STRONG = "correct horse battery staple orbit"
RANDOMISH = "Zq8#mW2!vR5@tL9kEp4&"


def rejection(password: str, user_inputs: Sequence[str] = (EMAIL,)) -> PasswordRejected:
    with pytest.raises(PasswordRejected) as info:
        screen_password(password, user_inputs=user_inputs, policy=POLICY)
    error = info.value
    assert error.message and error.message != PasswordRejected.message, "say why"
    assert isinstance(error, InputRejected)
    return error


def accept(password: str, user_inputs: Sequence[str] = (EMAIL,)) -> None:
    screen_password(password, user_inputs=user_inputs, policy=POLICY)  # does not raise


# --- length ---------------------------------------------------------------------------------


@pytest.mark.parametrize("password", ["", "a", "Zq8#mW2!vR5@tL", "🦓🐙🦊🐢🦉🐝🦀🐌🦋🐞🐬🦒🐘🦔"])
def test_too_short(password: str) -> None:
    assert len(password) < 15
    error = rejection(password)
    assert error.code == "password.too_short"
    assert "15" in error.message


def test_emoji_count_as_one_code_point() -> None:
    fourteen = "🦓🐙🦊🐢🦉🐝🦀🐌🦋🐞🐬🦒🐘🦔"
    fifteen = fourteen + "🐧"
    assert len(fourteen.encode()) > 15  # many bytes, still too short
    assert rejection(fourteen).code == "password.too_short"
    accept(fifteen)


def test_spaces_count_and_are_allowed() -> None:
    accept("ox  ray  kiwi  jam  fog")


def test_too_long() -> None:
    error = rejection("a" * 129)
    assert error.code == "password.too_long"
    assert "128" in error.message


def test_exactly_128_is_not_too_long() -> None:
    password = (STRONG + " ") * 4
    password = password[:128]
    assert len(password) == 128
    accept(password)


# --- the account's own words and the product's name ---------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "jane.doe@example.com is me",
        "JANE.DOE@EXAMPLE.COM rocks hard",
        "my jane.doe purple walrus",
        "janeXdoe and the purple walrus",  # each piece of the local part counts
    ],
)
def test_contains_email_or_its_local_part(password: str) -> None:
    error = rejection(password)
    assert error.code == "password.contains_identifier"


def test_contains_local_part_pieces() -> None:
    assert rejection("Jane purple walrus orbit", ["jane.doe@example.com"]).code == (
        "password.contains_identifier")


def test_contains_phone_digits() -> None:
    error = rejection("call me on 447911123456!", [PHONE])
    assert error.code == "password.contains_identifier"
    error = rejection("+447911123456 purple walrus", [PHONE])
    assert error.code == "password.contains_identifier"


def test_contains_phone_national_number() -> None:
    # The phone number as its owner writes it (without the country code) is still the
    # account's own identifier (SECURITY.md: reject passwords built from the identifier).
    error = rejection("7911123456 purple walrus", [PHONE])
    assert error.code == "password.contains_identifier"


@pytest.mark.parametrize(
    "password",
    ["keepgate purple walrus", "My KeepGate orbit 42!", "ＫＥＥＰＧＡＴＥ purple walrus",
     "purple walrus orbit KEEPGATE"],
)
def test_contains_product_name(password: str) -> None:
    error = rejection(password, [])
    assert error.code == "password.contains_identifier"


def test_short_fragments_are_not_treated_as_identifier_words() -> None:
    # "jo" is too short to be a meaningful word: a strong password containing it is fine.
    accept("jolly " + STRONG, ["jo@example.com"])


# --- common and weak ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "password", ["password1234567", "Password1234567", "iloveyou1234567", "sunshine12345678",
                 "password123456789"]
)
def test_common_passwords(password: str) -> None:
    error = rejection(password)
    assert error.code == "password.common"
    assert "common" in error.message


@pytest.mark.parametrize("password", ["iloveyouiloveyou", "abcabcabcabcabc", "🦓" * 15, "a" * 100])
def test_weak_passwords(password: str) -> None:
    error = rejection(password)
    assert error.code == "password.too_weak"
    assert len(error.message) > len("This password is too easy to guess.")


def test_stricter_policy_is_honoured() -> None:
    strict = PasswordPolicy(min_length=20)
    with pytest.raises(PasswordRejected) as info:
        screen_password(RANDOMISH[:19], user_inputs=[], policy=strict)
    assert info.value.code == "password.too_short"
    assert "20" in info.value.message


# --- accepted -----------------------------------------------------------------------------


def test_strong_random_looking_password_accepted() -> None:
    accept(RANDOMISH)
    accept("Xk#9vQ!2mL$7pRz")


def test_passphrase_accepted() -> None:
    accept(STRONG)


def test_long_passphrase_beyond_zxcvbn_limit_accepted() -> None:
    passphrase = ("the quick brown fox jumps over the lazy dog while seven purple "
                  "elephants dance happily")
    assert len(passphrase) > ZXCVBN_MAX == 72
    accept(passphrase)
    accept(passphrase, [PHONE])


def test_any_script_accepted() -> None:
    accept("водород кислород азот углерод")
