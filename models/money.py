"""Money at the edges: parse and format integer cents (USD). Never a float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

#: Currency of every balance, as a lowercase ISO 4217 code.
CURRENCY = "usd"


def parse_cents(text: str) -> int:
    """Parse a dollar amount such as ``"12.34"`` into cents.

    >>> parse_cents("12.34")
    1234
    >>> parse_cents("-0.5")
    -50

    Raises:
        ValueError: not a number, or more than two decimal places.
    """
    try:
        value = Decimal(text.strip().replace(",", "").lstrip("$"))
    except (InvalidOperation, AttributeError):
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {text!r}")
    cents = value * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"more than 2 decimal places: {text!r}")
    return int(cents)


def format_cents(cents: int) -> str:
    """Format cents as dollars with a sign and two decimals.

    >>> format_cents(123456)
    '$1,234.56'
    >>> format_cents(-5)
    '-$0.05'
    """
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{frac:02d}"
