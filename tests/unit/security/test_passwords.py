"""keepgate.security.passwords: Argon2id hashing (cheap parameters for speed)."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest

from keepgate.security.errors import InvalidPassword, VerificationFailed
from keepgate.security.passwords import (
    FLOOR_MEMORY_KIB,
    FLOOR_TIME_COST,
    HashParams,
    PasswordHasher,
    normalize_password,
)

CHEAP = HashParams(memory_kib=8, time_cost=1)
PASSWORD = "correct horse battery staple orbit"


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(CHEAP)


def test_round_trip(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    hasher.verify(stored, PASSWORD)  # does not raise


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    assert hasher.hash(PASSWORD) != hasher.hash(PASSWORD)


def test_encoded_hash_carries_the_configured_params(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    assert "m=8,t=1,p=1" in stored


def test_wrong_password_raises_invalid_password(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    with pytest.raises(InvalidPassword):
        hasher.verify(stored, PASSWORD + "!")
    with pytest.raises(VerificationFailed):
        hasher.verify(stored, "")


def test_verify_returns_none_instead_of_a_boolean(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash(PASSWORD), PASSWORD) is None  # type: ignore[func-returns-value]


def test_never_case_folded(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    with pytest.raises(InvalidPassword):
        hasher.verify(stored, PASSWORD.upper())


@pytest.mark.parametrize("garbage", ["", "not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_malformed_stored_hash_raises_invalid_password(hasher: PasswordHasher,
                                                       garbage: str) -> None:
    with pytest.raises(InvalidPassword):
        hasher.verify(garbage, PASSWORD)


# --- normalisation ------------------------------------------------------------------------


def test_fullwidth_and_ascii_forms_verify_against_each_other(hasher: PasswordHasher) -> None:
    ascii_form = "Purple Walrus 42 Orbit"
    fullwidth = "Ｐｕｒｐｌｅ Ｗａｌｒｕｓ ４２ Ｏｒｂｉｔ"
    assert fullwidth != ascii_form
    assert normalize_password(fullwidth) == ascii_form
    hasher.verify(hasher.hash(fullwidth), ascii_form)
    hasher.verify(hasher.hash(ascii_form), fullwidth)


def test_composed_and_decomposed_forms_verify_against_each_other(hasher: PasswordHasher) -> None:
    composed = "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e"
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    hasher.verify(hasher.hash(composed), decomposed)
    hasher.verify(hasher.hash(decomposed), composed)


def test_normalize_password_is_nfkc() -> None:
    assert normalize_password("\ufb01ne") == "fine"  # the "fi" ligature
    assert normalize_password("e\u0301") == "\u00e9"


# --- no truncation ------------------------------------------------------------------------


@pytest.mark.parametrize("length", [73, 100, 128])
def test_no_truncation(hasher: PasswordHasher, length: int) -> None:
    base = "x" * (length - 1)
    stored = hasher.hash(base + "a")
    hasher.verify(stored, base + "a")
    with pytest.raises(InvalidPassword):
        hasher.verify(stored, base + "b")


def test_multibyte_password_is_not_truncated(hasher: PasswordHasher) -> None:
    # 100 code points, far more than 72 bytes in UTF-8.
    base = "密" * 99
    stored = hasher.hash(base + "码")
    with pytest.raises(InvalidPassword):
        hasher.verify(stored, base + "马")


# --- dummy verification ------------------------------------------------------------------


@pytest.mark.parametrize("attempt", [PASSWORD, "", "anything at all", "x" * 128])
def test_verify_dummy_always_raises(hasher: PasswordHasher, attempt: str) -> None:
    with pytest.raises(InvalidPassword):
        hasher.verify_dummy(attempt)


class _CountingArgon:
    """Wraps the real argon2 hasher and counts verifications."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.verifications = 0

    def verify(self, stored: str, password: str) -> bool:
        self.verifications += 1
        return bool(self.real.verify(stored, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_verify_dummy_does_the_same_argon2_work_as_verify() -> None:
    hasher = PasswordHasher(CHEAP)
    spy = _CountingArgon(hasher._argon)
    hasher._argon = spy  # type: ignore[assignment]
    with pytest.raises(InvalidPassword):
        hasher.verify_dummy(PASSWORD)
    assert spy.verifications == 1


def test_dummy_hash_uses_the_configured_params() -> None:
    hasher = PasswordHasher(CHEAP)
    assert hasher._dummy_hash.startswith("$argon2id$")
    assert hasher.needs_rehash(hasher._dummy_hash) is False


# --- rehash -------------------------------------------------------------------------------


def test_needs_rehash_only_when_params_change(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    assert hasher.needs_rehash(stored) is False
    stronger = PasswordHasher(HashParams(memory_kib=16, time_cost=2))
    assert stronger.needs_rehash(stored) is True
    # ... and the old hash still verifies under the new hasher, so the login can re-hash it.
    stronger.verify(stored, PASSWORD)
    new_hash = stronger.hash(PASSWORD)
    assert stronger.needs_rehash(new_hash) is False
    assert hasher.needs_rehash(new_hash) is True


def test_needs_rehash_on_time_cost_change_alone(hasher: PasswordHasher) -> None:
    other = PasswordHasher(HashParams(memory_kib=8, time_cost=2))
    assert other.needs_rehash(hasher.hash(PASSWORD)) is True


# --- params -------------------------------------------------------------------------------


def test_default_params_are_the_owasp_floor() -> None:
    params = HashParams()
    assert params.memory_kib == FLOOR_MEMORY_KIB == 19 * 1024
    assert params.time_cost == FLOOR_TIME_COST == 2
    assert params.parallelism == 1
    assert params.below_floor() is False


@pytest.mark.parametrize(
    ("params", "below"),
    [
        (HashParams(memory_kib=8, time_cost=1), True),
        (HashParams(memory_kib=19 * 1024 - 1, time_cost=2), True),
        (HashParams(memory_kib=19 * 1024, time_cost=1), True),
        (HashParams(memory_kib=19 * 1024, time_cost=2), False),
        (HashParams(memory_kib=64 * 1024, time_cost=3), False),
    ],
)
def test_below_floor(params: HashParams, below: bool) -> None:
    assert params.below_floor() is below
