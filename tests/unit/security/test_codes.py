"""keepgate.security.codes: one-time numeric codes and their purpose-bound digests."""

from __future__ import annotations

import secrets

import pytest

from keepgate.security.codes import CodeDigester, generate_code
from keepgate.security.errors import InvalidCodeDigest, VerificationFailed

KEY = b"k" * 32


@pytest.fixture
def digester() -> CodeDigester:
    return CodeDigester(KEY)


def test_codes_are_six_ascii_digits() -> None:
    for _ in range(500):
        code = generate_code()
        assert len(code) == 6
        assert code.isascii() and code.isdigit()


def test_leading_zeros_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda n: 42)
    assert generate_code() == "000042"
    monkeypatch.setattr(secrets, "randbelow", lambda n: 0)
    assert generate_code() == "000000"
    monkeypatch.setattr(secrets, "randbelow", lambda n: n - 1)
    assert generate_code() == "999999"


def test_code_is_drawn_from_the_full_range(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def fake(n: int) -> int:
        seen.append(n)
        return 7

    monkeypatch.setattr(secrets, "randbelow", fake)
    assert generate_code(8) == "00000007"
    assert seen == [10**8]


def test_codes_vary() -> None:
    assert len({generate_code() for _ in range(200)}) > 150


def test_digest_round_trip(digester: CodeDigester) -> None:
    stored = digester.digest("012345", purpose="registration", binding="flow-a")
    assert "012345" not in stored
    assert len(stored) == 64
    digester.verify(stored, "012345", purpose="registration", binding="flow-a")


def test_digest_is_deterministic(digester: CodeDigester) -> None:
    a = digester.digest("123456", purpose="p", binding="b")
    assert a == digester.digest("123456", purpose="p", binding="b")


def test_code_for_flow_a_fails_for_flow_b(digester: CodeDigester) -> None:
    stored = digester.digest("123456", purpose="registration", binding="flow-a")
    with pytest.raises(InvalidCodeDigest):
        digester.verify(stored, "123456", purpose="registration", binding="flow-b")


def test_code_for_one_purpose_fails_for_another(digester: CodeDigester) -> None:
    stored = digester.digest("123456", purpose="registration", binding="flow-a")
    with pytest.raises(InvalidCodeDigest):
        digester.verify(stored, "123456", purpose="login", binding="flow-a")


def test_fields_cannot_be_shifted_across_the_separator(digester: CodeDigester) -> None:
    one = digester.digest("123456", purpose="ab", binding="c")
    two = digester.digest("123456", purpose="a", binding="bc")
    assert one != two


def test_wrong_code_raises(digester: CodeDigester) -> None:
    stored = digester.digest("123456", purpose="p", binding="b")
    for wrong in ("123457", "654321", "023456", "12345", "1234567", ""):
        with pytest.raises(InvalidCodeDigest):
            digester.verify(stored, wrong, purpose="p", binding="b")


def test_other_key_does_not_verify() -> None:
    stored = CodeDigester(KEY).digest("123456", purpose="p", binding="b")
    with pytest.raises(InvalidCodeDigest):
        CodeDigester(b"x" * 32).verify(stored, "123456", purpose="p", binding="b")


@pytest.mark.parametrize("stored", [None, "", "0" * 64])
def test_missing_digest_never_verifies(digester: CodeDigester, stored: str | None) -> None:
    for code in ("000000", "123456", "999999", ""):
        with pytest.raises(InvalidCodeDigest):
            digester.verify(stored, code, purpose="p", binding="b")


def test_invalid_code_digest_is_a_verification_failure() -> None:
    assert issubclass(InvalidCodeDigest, VerificationFailed)


class _ZeroDigester(CodeDigester):
    """A digester whose candidate happens to equal the placeholder compared for a missing
    digest: even then a missing digest must not verify."""

    def digest(self, code: str, *, purpose: str, binding: str) -> str:
        return "0" * 64


def test_missing_digest_never_verifies_even_if_candidate_equals_placeholder() -> None:
    with pytest.raises(InvalidCodeDigest):
        _ZeroDigester(KEY).verify(None, "123456", purpose="p", binding="b")
