"""keepgate.domain.money: amounts are Decimals at a fixed scale; each bad one has its code."""

from __future__ import annotations

from decimal import Decimal

import pytest

from keepgate.domain import errors as E
from keepgate.domain.money import (
    MAX_AMOUNT,
    format_amount,
    from_minor,
    parse_amount,
    to_minor,
)


@pytest.mark.parametrize(("raw", "amount"), [
    ("250", Decimal("250.00")), ("0.01", Decimal("0.01")), (" 12.5 ", Decimal("12.50")),
    (7, Decimal("7.00")), (Decimal("1.10"), Decimal("1.10")), ("1.500", Decimal("1.50")),
    ("1e3", Decimal("1000.00")), (str(MAX_AMOUNT), MAX_AMOUNT),
])
def test_good_amounts(raw: object, amount: Decimal) -> None:
    parsed = parse_amount(raw)
    assert parsed == amount
    assert parsed.as_tuple().exponent == -2


@pytest.mark.parametrize(("raw", "error"), [
    ("abc", E.AmountInvalid), ("", E.AmountInvalid), ("NaN", E.AmountInvalid),
    ("sNaN", E.AmountInvalid), ("Infinity", E.AmountInvalid), ("-Infinity", E.AmountInvalid),
    (1.5, E.AmountInvalid), (True, E.AmountInvalid), (None, E.AmountInvalid),
    ("0", E.AmountNotPositive), ("-1", E.AmountNotPositive), ("0.00", E.AmountNotPositive),
    (-3, E.AmountNotPositive), ("0.001", E.AmountTooPrecise), ("1.005", E.AmountTooPrecise),
    (str(MAX_AMOUNT + 1), E.AmountTooLarge), ("1e400", E.AmountTooLarge),
])
def test_bad_amounts_have_stable_codes(raw: object, error: type[E.AmountInvalid]) -> None:
    with pytest.raises(error) as raised:
        parse_amount(raw)
    assert type(raised.value) is error
    assert raised.value.code.startswith("amount.")


def test_minor_units_round_trip_exactly() -> None:
    for text in ("0.01", "1234567.89", str(MAX_AMOUNT)):
        amount = parse_amount(text)
        assert from_minor(to_minor(amount)) == amount
    assert to_minor(parse_amount("0.1")) == 10
    assert format_amount(Decimal("5")) == "5.00"
    assert format_amount(MAX_AMOUNT) == "1000000000000000.00"
