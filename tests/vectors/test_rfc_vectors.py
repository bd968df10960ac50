"""Published test vectors: RFC 4226 Appendix D (HOTP) and RFC 6238 Appendix B (TOTP, SHA-1).

keepgate.security.totp must compute the codes any authenticator app computes. The HOTP
vectors go through ``code_at`` (HOTP at counter = step); the TOTP vectors are checked at 8 digits
with pyotp directly (the RFC's own table) and at Keepgate's 6 digits through ``verify`` at the
matching moment.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pyotp
import pytest

from keepgate.security import totp

RFC_SECRET = b"12345678901234567890"  # RFC 4226 / RFC 6238 SHA-1 seed (20 ASCII bytes)
SECRET_B32 = base64.b32encode(RFC_SECRET).decode()

# RFC 4226, Appendix D: HOTP values for counts 0..9 (6 digits).
HOTP_VECTORS = ["755224", "287082", "359152", "969429", "338314",
                "254676", "287922", "162583", "399871", "520489"]

# RFC 6238, Appendix B: SHA-1 TOTP values, 8 digits, X = 30, T0 = 0.
TOTP_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def test_secret_encoding() -> None:
    assert SECRET_B32 == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert len(base64.b32decode(SECRET_B32)) * 8 == 160


@pytest.mark.parametrize(("count", "expected"), list(enumerate(HOTP_VECTORS)))
def test_rfc4226_hotp_vectors_through_code_at(count: int, expected: str) -> None:
    assert totp.code_at(SECRET_B32, count) == expected


@pytest.mark.parametrize(("count", "expected"), list(enumerate(HOTP_VECTORS)))
def test_rfc4226_hotp_vectors_agree_with_pyotp_hotp(count: int, expected: str) -> None:
    assert pyotp.HOTP(SECRET_B32, digits=6).at(count) == expected


@pytest.mark.parametrize(("unix", "expected"), TOTP_VECTORS)
def test_rfc6238_sha1_eight_digit_vectors_with_pyotp(unix: int, expected: str) -> None:
    generator = pyotp.TOTP(SECRET_B32, digits=8, interval=30)
    assert generator.at(unix) == expected
    assert generator.at(datetime.fromtimestamp(unix, UTC)) == expected


@pytest.mark.parametrize(("unix", "expected"), TOTP_VECTORS)
def test_rfc6238_six_digit_truncation_through_verify(unix: int, expected: str) -> None:
    moment = datetime.fromtimestamp(unix, UTC)
    six = expected[-6:]
    step = totp.verify(SECRET_B32, six, now=moment, last_step=None)
    assert step == unix // 30 == totp.step_of(moment)
    assert totp.code_at(SECRET_B32, step) == six
    # Keepgate's 6-digit code is the last 6 digits of the RFC's 8-digit one.
    assert pyotp.TOTP(SECRET_B32, digits=8, interval=30).at(unix)[-6:] == six


@pytest.mark.parametrize(("unix", "expected"), TOTP_VECTORS)
def test_rfc6238_vector_refused_once_its_step_was_used(unix: int, expected: str) -> None:
    moment = datetime.fromtimestamp(unix, UTC)
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET_B32, expected[-6:], now=moment, last_step=unix // 30)


def test_eight_digit_code_is_not_accepted_as_a_six_digit_one() -> None:
    moment = datetime.fromtimestamp(59, UTC)
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET_B32, "94287082", now=moment, last_step=None)
