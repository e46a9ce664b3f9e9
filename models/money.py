"""Money at the edges: parse and format integer cents (USD). Never a float."""

from __future__ import annotations

import re

from models.errors import HeroError

#: Currency of every balance, as a lowercase ISO 4217 code.
CURRENCY = "usd"

#: Largest single payment credited, in cents ($1,000,000.00).
MAX_PAYMENT_CENTS = 100_000_000
#: Every balance stays within plus or minus this, in cents ($100,000,000,000.00): far
#: inside PostgreSQL's BIGINT and SQLite's 64-bit INTEGER, so no balance or ledger sum
#: overflows, or turns into a float on SQLite.
MAX_BALANCE_CENTS = 10**13
#: Largest change one ledger entry may make: any move between two balances in bounds.
MAX_ENTRY_CENTS = 2 * MAX_BALANCE_CENTS
#: Largest operator adjustment either way, in cents ($1,000,000.00); ``--to`` must also
#: land within ``MAX_BALANCE_CENTS``.
MAX_ADJUSTMENT_CENTS = 100_000_000
#: Operator adjustments larger than this either way ask for confirmation ($500.00).
CONFIRM_ADJUSTMENT_CENTS = 50_000
#: Largest credit allowance below the floor an operator may give one account, in cents
#: ($1,000,000.00).
MAX_ALLOWANCE_CENTS = 100_000_000


class AmountOutOfBounds(HeroError):
    """An amount, or the balance it would leave, is outside its documented bound."""


def check_cents(name: str, value: object, *, limit: int) -> int:
    """Return *value* when it is a whole number of cents within plus or minus *limit*.

    >>> check_cents("by_cents", -250, limit=1000)
    -250

    Raises:
        AmountOutOfBounds: naming *name*, for a non-integer or an amount out of bounds.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise AmountOutOfBounds(f"{name}: must be a whole number of cents, not {value!r}")
    if not -limit <= value <= limit:
        raise AmountOutOfBounds(
            f"{name}: {value} cents is outside the bound of plus or minus {limit} cents "
            f"({format_cents(limit)})"
        )
    return value


def parse_cents(text: str) -> int:
    """Parse a dollar amount such as ``"12.34"``, ``"$1,234.50"`` or ``"-$0.05"`` into cents.

    Exact for any size (integer arithmetic, no float, no rounding context). Thousands
    separators must be in groups of three; a decimal comma is refused, not guessed.

    >>> parse_cents("12.34")
    1234
    >>> parse_cents("-0.5")
    -50

    Raises:
        ValueError: not an amount, or more than two decimal places.
    """
    if not isinstance(text, str):
        raise ValueError(f"not an amount: {text!r}")
    match = _AMOUNT.fullmatch(text.strip())
    if match is None or not (match.group("whole") or match.group("fraction")):
        raise ValueError(f"not an amount: {text!r}")
    sign, whole, fraction = match.group("sign"), match.group("whole"), match.group("fraction")
    fraction = (fraction or "").rstrip("0") if len(fraction or "") > 2 else (fraction or "")
    if len(fraction) > 2:
        raise ValueError(f"more than 2 decimal places: {text!r}")
    cents = int(whole.replace(",", "") or "0") * 100 + int(fraction.ljust(2, "0"))
    return -cents if sign == "-" else cents


_AMOUNT = re.compile(r"(?P<sign>[-+]?)\$?(?P<whole>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<fraction>\d+))?")


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
