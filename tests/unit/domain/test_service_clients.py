"""Service-client names and scopes as an operator gives them."""

from __future__ import annotations

import pytest

from keepgate.domain.service_clients import (
    InvalidServiceClient,
    Scope,
    parse_scopes,
    valid_name,
)


@pytest.mark.parametrize("name", ["trading-engine", "wallet2", "abc", "a" * 64])
def test_names_that_are_accepted(name: str) -> None:
    assert valid_name(name) == name


@pytest.mark.parametrize("name", ["ab", "a" * 65, "Trading", "2fa-service", "-abc", "abc-",
                                  "a--b", "a:b", "a b", "wallet\u0131", ""])
def test_names_that_are_refused(name: str) -> None:
    with pytest.raises(InvalidServiceClient):
        valid_name(name)


def test_scopes_are_parsed_forgivingly_but_must_be_known() -> None:
    assert parse_scopes([" Introspect", "decide ", "decide"]) == {Scope.INTROSPECT, Scope.DECIDE}
    with pytest.raises(InvalidServiceClient, match="unknown scope"):
        parse_scopes(["introspect", "admin"])
    with pytest.raises(InvalidServiceClient, match="at least one"):
        parse_scopes(["", " "])
