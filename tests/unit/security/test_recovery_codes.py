"""keepgate.security.recovery_codes: ten 120-bit codes, forgiving input, keyed digests; the
80-bit codes issued before keep working."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re

import pytest

from keepgate.security import recovery_codes
from keepgate.security.recovery_codes import RecoveryCodeHasher

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
KEY = b"recovery-test-key-0123456789abcd"
SHAPE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){5}$")


def test_ten_codes_by_default() -> None:
    assert recovery_codes.COUNT == 10
    assert len(recovery_codes.generate()) == 10
    assert len(recovery_codes.generate(3)) == 3


def test_codes_are_24_base32_characters_in_groups_of_four() -> None:
    for code in recovery_codes.generate():
        assert SHAPE.match(code), code
        bare = code.replace("-", "")
        assert len(bare) == recovery_codes.CHARS == 24
        assert set(bare) <= set(BASE32)
        assert len(base64.b32decode(bare)) == 15


def test_at_least_112_bits_each() -> None:
    """Enough that a keyed hash suffices: see the module docstring."""
    assert recovery_codes.CHARS * math.log2(len(BASE32)) >= 112


def test_codes_are_unique_and_vary() -> None:
    batch = recovery_codes.generate()
    assert len(set(batch)) == len(batch)
    many = [c for _ in range(20) for c in recovery_codes.generate()]
    assert len(set(many)) == len(many)
    # Every position varies across batches (not a fixed prefix or suffix).
    for position in range(29):
        if position in (4, 9, 14, 19, 24):
            assert {c[position] for c in many} == {"-"}
        else:
            assert len({c[position] for c in many}) > 1


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("ABCD-EFGH-IJKL-MNOP", "ABCDEFGHIJKLMNOP"),
        ("abcd-efgh-ijkl-mnop", "ABCDEFGHIJKLMNOP"),
        ("abcd efgh ijkl mnop", "ABCDEFGHIJKLMNOP"),
        ("  AbCd-EfGh ijkl—mnop \n", "ABCDEFGHIJKLMNOP"),
        ("ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOP"),
        ("", ""),
    ],
)
def test_normalize(typed: str, expected: str) -> None:
    assert recovery_codes.normalize(typed) == expected


def test_generated_codes_survive_normalisation() -> None:
    for code in recovery_codes.generate():
        assert recovery_codes.normalize(code) == code.replace("-", "")
        assert recovery_codes.normalize(code.lower().replace("-", " ")) == code.replace("-", "")


@pytest.mark.parametrize("code", ["ABCD-EFGH-IJKL-MNOP-QRST-UVWX", "abcd efgh ijkl mnop qrst uvwx",
                                  "ABCDEFGHIJKLMNOPQRSTUVWX", "2345-6723-4567-ZZZZ-2345-6723",
                                  # the 16-character codes issued before still work
                                  "ABCD-EFGH-IJKL-MNOP", "abcd efgh ijkl mnop",
                                  "ABCDEFGHIJKLMNOP", "2345-6723-4567-ZZZZ"])
def test_looks_like_code(code: str) -> None:
    assert recovery_codes.looks_like_code(code)


@pytest.mark.parametrize(
    "code",
    ["", "ABCD-EFGH-IJKL", "ABCD-EFGH-IJKL-MNOPQ", "ABCD-EFGH-IJKL-MNOP-QRST",
     "ABCD-EFGH-IJKL-MNOP-QRST-UVWXY", "ABCD-EFGH-IJKL-MNOP-QRST-UVW0",
     "ABCD-EFGH-IJKL-MNO0", "ABCD-EFGH-IJKL-MNO1",
     "ABCD-EFGH-IJKL-MNO8", "123456", "ÄBCD-EFGH-IJKL-MNOP", "ＡBCD-EFGH-IJKL-MNOP"],
)
def test_does_not_look_like_code(code: str) -> None:
    assert not recovery_codes.looks_like_code(code)


def test_every_generated_code_looks_like_a_code() -> None:
    assert all(recovery_codes.looks_like_code(c) for c in recovery_codes.generate())


# --- keyed digest -----------------------------------------------------------------------------


def test_digest_is_stable() -> None:
    code = recovery_codes.generate()[0]
    assert RecoveryCodeHasher(KEY).digest(code) == RecoveryCodeHasher(KEY).digest(code)


def test_digest_ignores_case_spaces_and_dashes() -> None:
    hasher = RecoveryCodeHasher(KEY)
    assert (hasher.digest("ABCD-EFGH-IJKL-MNOP") == hasher.digest("abcd efgh ijkl mnop")
            == hasher.digest("ABCDEFGHIJKLMNOP"))


def test_digest_is_keyed() -> None:
    code = "ABCD-EFGH-IJKL-MNOP"
    assert RecoveryCodeHasher(KEY).digest(code) != RecoveryCodeHasher(b"x" * 32).digest(code)


def test_digest_is_hmac_sha256_hex_and_hides_the_code() -> None:
    code = "ABCD-EFGH-IJKL-MNOP"
    value = RecoveryCodeHasher(KEY).digest(code)
    assert re.fullmatch(r"[0-9a-f]{64}", value)
    assert value == hmac.new(KEY, b"ABCDEFGHIJKLMNOP", hashlib.sha256).hexdigest()


def test_different_codes_have_different_digests() -> None:
    hasher = RecoveryCodeHasher(KEY)
    batch = recovery_codes.generate()
    assert len({hasher.digest(c) for c in batch}) == len(batch)


def test_digests_of_earlier_80_bit_codes_are_unchanged() -> None:
    """Stored digests of the 16-character codes keep matching: same key, same format."""
    old = "ABCD-EFGH-IJKL-MNOP"
    assert RecoveryCodeHasher(KEY).digest(old) == hmac.new(
        KEY, b"ABCDEFGHIJKLMNOP", hashlib.sha256).hexdigest()


def test_new_codes_hash_the_same_way() -> None:
    code = recovery_codes.generate()[0]
    assert RecoveryCodeHasher(KEY).digest(code) == hmac.new(
        KEY, code.replace("-", "").encode(), hashlib.sha256).hexdigest()
