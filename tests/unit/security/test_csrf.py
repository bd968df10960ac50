"""keepgate.security.csrf: signed double-submit tokens."""

from __future__ import annotations

import pytest

from keepgate.security.csrf import CsrfTokens
from keepgate.security.errors import InvalidCsrfToken

KEY = b"c" * 32


@pytest.fixture
def csrf() -> CsrfTokens:
    return CsrfTokens(KEY)


def test_token_verifies_for_its_cookie(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    csrf.verify(cookie, csrf.token_for(cookie))


def test_token_fails_for_another_cookie(csrf: CsrfTokens) -> None:
    cookie_a = CsrfTokens.new_cookie_value()
    cookie_b = CsrfTokens.new_cookie_value()
    assert cookie_a != cookie_b
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie_b, csrf.token_for(cookie_a))


@pytest.mark.parametrize(("cookie", "token"), [(None, "t"), ("", "t"), ("c", None), ("c", ""),
                                               (None, None), ("", "")])
def test_missing_cookie_or_token_refused(csrf: CsrfTokens, cookie: str | None,
                                         token: str | None) -> None:
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie, token)


def test_missing_token_refused_even_for_a_real_cookie(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie, None)
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(None, csrf.token_for(cookie))


def test_cookie_value_as_token_refused(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie, cookie)


def test_tampered_token_refused(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    token = csrf.token_for(cookie)
    flipped = token[:-1] + ("0" if token[-1] != "0" else "1")
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie, flipped)


def test_token_from_another_key_refused(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    with pytest.raises(InvalidCsrfToken):
        csrf.verify(cookie, CsrfTokens(b"d" * 32).token_for(cookie))


def test_cookie_values_are_random() -> None:
    values = {CsrfTokens.new_cookie_value() for _ in range(1000)}
    assert len(values) == 1000
    assert all(len(v) >= 43 for v in values)


def test_binding_is_stable_and_reveals_nothing(csrf: CsrfTokens) -> None:
    cookie = CsrfTokens.new_cookie_value()
    binding = CsrfTokens.binding(cookie)
    assert binding == CsrfTokens.binding(cookie)
    assert binding != CsrfTokens.binding(CsrfTokens.new_cookie_value())
    assert cookie not in binding
    assert binding != csrf.token_for(cookie)


def test_empty_cookie_refused_even_with_its_matching_token(csrf: CsrfTokens) -> None:
    with pytest.raises(InvalidCsrfToken):
        csrf.verify("", csrf.token_for(""))
