"""keepgate.security.totp: RFC 6238 codes, one step of drift either side, each step once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from keepgate.security import totp
from keepgate.security.errors import VerificationFailed

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
# Mid-step, so a few seconds either way stay within the same step.
NOW = datetime(2025, 6, 1, 12, 0, 15, tzinfo=UTC)
STEP = totp.step_of(NOW)


def code(offset: int) -> str:
    return totp.code_at(SECRET, STEP + offset)


def test_baseline_numbers() -> None:
    assert totp.STEP_SECONDS == 30
    assert totp.DIGITS == 6
    assert totp.DRIFT_STEPS == 1


def test_step_of() -> None:
    assert totp.step_of(datetime.fromtimestamp(0, UTC)) == 0
    assert totp.step_of(datetime.fromtimestamp(29, UTC)) == 0
    assert totp.step_of(datetime.fromtimestamp(30, UTC)) == 1
    assert int(NOW.timestamp()) // 30 == STEP


def test_codes_are_six_digits() -> None:
    for offset in range(-3, 4):
        value = code(offset)
        assert len(value) == 6
        assert value.isascii() and value.isdigit()


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_current_and_one_step_either_side_are_accepted(offset: int) -> None:
    assert totp.verify(SECRET, code(offset), now=NOW, last_step=None) == STEP + offset


@pytest.mark.parametrize("offset", [-2, 2, -3, 3, 100])
def test_two_steps_or_more_away_are_refused(offset: int) -> None:
    assert code(offset) not in {code(-1), code(0), code(1)}  # no accidental collision
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, code(offset), now=NOW, last_step=None)


def test_window_moves_with_time() -> None:
    earlier = code(0)
    assert totp.verify(SECRET, earlier, now=NOW + timedelta(seconds=30), last_step=None) == STEP
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, earlier, now=NOW + timedelta(seconds=60), last_step=None)


def test_wrong_code_is_refused() -> None:
    accepted = {code(-1), code(0), code(1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in accepted)
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, wrong, now=NOW, last_step=None)


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", " 12345", "12 345"])
def test_malformed_codes_are_refused(bad: str) -> None:
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, bad, now=NOW, last_step=None)


@pytest.mark.parametrize("bad", ["１２３４５６", "12345é", "٠١٢٣٤٥"])
def test_non_ascii_codes_are_refused_not_crashed(bad: str) -> None:
    """verify must raise its own failure for any input, never another exception."""
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, bad, now=NOW, last_step=None)


# --- replay guard -----------------------------------------------------------------------------


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_replay_of_the_same_step_is_refused(offset: int) -> None:
    step = totp.verify(SECRET, code(offset), now=NOW, last_step=None)
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, code(offset), now=NOW, last_step=step)


def test_a_step_older_than_the_last_used_is_refused() -> None:
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, code(-1), now=NOW, last_step=STEP)
    with pytest.raises(totp.InvalidTotp):
        totp.verify(SECRET, code(0), now=NOW, last_step=STEP + 1)


def test_a_later_step_after_the_last_used_is_accepted() -> None:
    assert totp.verify(SECRET, code(0), now=NOW, last_step=STEP - 1) == STEP
    assert totp.verify(SECRET, code(1), now=NOW, last_step=STEP) == STEP + 1


def test_invalid_totp_is_a_verification_failure() -> None:
    assert issubclass(totp.InvalidTotp, VerificationFailed)


# --- secrets and enrolment --------------------------------------------------------------------


def test_new_secret_is_160_bits_of_base32() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(base64.b32decode(secret)) * 8 == 160


def test_new_secrets_differ() -> None:
    assert len({totp.new_secret() for _ in range(50)}) == 50


def test_a_new_secret_works_end_to_end() -> None:
    secret = totp.new_secret()
    current = totp.code_at(secret, STEP)
    assert totp.verify(secret, current, now=NOW, last_step=None) == STEP


def test_provisioning_uri_names_issuer_and_account() -> None:
    uri = totp.provisioning_uri(SECRET, account_name="jane.doe@example.com", issuer="Keepgate")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert "Keepgate" in unquote(parts.path)
    assert "jane.doe@example.com" in unquote(parts.path)
    query = parse_qs(parts.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["Keepgate"]
    # Defaults (SHA-1, 6 digits, 30 s) may be left out; if present they must match.
    assert query.get("digits", ["6"]) == ["6"]
    assert query.get("period", ["30"]) == ["30"]
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
