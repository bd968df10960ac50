"""Amounts of money: ``Decimal`` with a fixed scale, never ``float``.

Limits and their usage are counted in the policy's reference currency (USD unless the operator
says otherwise) with ``AMOUNT_SCALE`` decimal places. An amount is refused, each with its own
stable code, when it is not a finite decimal number (``amount.invalid``; a ``float`` is refused
too, since it cannot say exactly what it means), zero or negative (``amount.not_positive``),
finer than the scale (``amount.too_precise``) or over ``MAX_AMOUNT`` (``amount.too_large``).
Amounts are stored as whole minor units (cents), so the databases add them up exactly.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from keepgate.domain.errors import (
    AmountInvalid,
    AmountNotPositive,
    AmountTooLarge,
    AmountTooPrecise,
)

AMOUNT_SCALE = 2
QUANTUM = Decimal(1).scaleb(-AMOUNT_SCALE)  # 0.01
MAX_AMOUNT = Decimal(10) ** 15  # a quadrillion: far above any limit, within a 64-bit integer
ZERO = Decimal("0.00")


def parse_amount(value: object) -> Decimal:
    """An amount from a string, an int or a ``Decimal``, at the fixed scale; or raise."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AmountInvalid()
    try:
        amount = Decimal(value.strip()) if isinstance(value, str) else Decimal(value)
    except InvalidOperation:
        raise AmountInvalid() from None
    if not amount.is_finite():
        raise AmountInvalid()
    if amount <= 0:
        raise AmountNotPositive()
    if amount > MAX_AMOUNT:
        raise AmountTooLarge()
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if exponent < -AMOUNT_SCALE:
        raise AmountTooPrecise(details={"decimal_places": AMOUNT_SCALE})
    return amount.quantize(QUANTUM)


def to_minor(amount: Decimal) -> int:
    """Whole minor units (cents) of an amount already at the fixed scale."""
    return int(amount.scaleb(AMOUNT_SCALE).to_integral_exact())


def from_minor(units: int) -> Decimal:
    return Decimal(units).scaleb(-AMOUNT_SCALE).quantize(QUANTUM)


def format_amount(amount: Decimal) -> str:
    """The wire form of an amount: a plain decimal string at the fixed scale ("1500.00")."""
    return f"{amount.quantize(QUANTUM):f}"
