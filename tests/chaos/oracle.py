"""The oracle: what every balance must be, computed from what the run sent alone.

It keeps its own copy of the billing rules (docs/decisions.md "Usage billing", DESIGN.md
section 4): the ladder in whole quarters, the exact quarter-cent carry per account, the
plan prices, refunds as the largest gross total sent for a payment, and the credit state
a host must see for a balance (docs/decisions.md "Credit state at the hosts"). It never
reads the product's tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

#: (minimum paid tenure, quarters per cent) for hero_os_hourly and llm; vm is always 4.
LADDER: tuple[tuple[dt.timedelta, int], ...] = (
    (dt.timedelta(days=30), 1),
    (dt.timedelta(days=7), 2),
    (dt.timedelta(0), 4),
)
#: The default plans: id -> (price in cents, VM quota).
PLANS: dict[str, tuple[int, int]] = {"5vms": (1000, 5), "10vms": (2000, 10)}
#: An account's low threshold unless its owner chose another ($5.00).
LOW_CENTS = 500


def credit_state(
    balance_cents: int, *, floor_cents: int, allowance_cents: int, low_cents: int
) -> str:
    """The state a host must see for *balance_cents*: ``exhausted`` at or under the limit
    (the floor less the account's allowance), ``low`` under its threshold, else ``ok``.

    Never ``suspended``: the run sets ``HERO_SUSPEND_AFTER_S`` far beyond its own length.

    >>> credit_state(-300, floor_cents=-300, allowance_cents=0, low_cents=500)
    'exhausted'
    >>> credit_state(-400, floor_cents=-300, allowance_cents=200, low_cents=500)
    'low'
    >>> credit_state(500, floor_cents=0, allowance_cents=0, low_cents=500)
    'ok'
    """
    if balance_cents <= floor_cents - allowance_cents:
        return "exhausted"
    return "low" if balance_cents < low_cents else "ok"


def quarters_of(
    amount_cents: int, applies_to: str, occurred_at: dt.datetime, first_paid_at: dt.datetime | None
) -> int:
    """What one record costs in quarter-cents."""
    if applies_to == "vm" or first_paid_at is None:
        return 4 * amount_cents
    tenure = occurred_at - first_paid_at
    for least, quarters in LADDER:
        if tenure >= least:
            return quarters * amount_cents
    return 4 * amount_cents


@dataclass
class AccountBook:
    """One account as the oracle sees it."""

    first_paid_at: dt.datetime | None = None
    paid_cents: int = 0
    refunded_cents: int = 0
    adjusted_cents: int = 0
    plan_cents: int = 0
    usage_quarters: int = 0
    vm_requests: set[str] = field(default_factory=set)
    plan_id: str | None = None
    #: The low threshold the run set for the account, and the allowance an operator gave.
    low_cents: int = LOW_CENTS
    allowance_cents: int = 0

    @property
    def usage_cents(self) -> int:
        """Whole cents charged once every record is in: the carry stays below 4 quarters."""
        return self.usage_quarters // 4

    @property
    def balance_cents(self) -> int:
        return (
            self.paid_cents
            - self.refunded_cents
            + self.adjusted_cents
            - self.plan_cents
            - self.usage_cents
        )


class Oracle:
    """Books of every account, fed with each fact the run sends (once per fact)."""

    def __init__(self) -> None:
        self.books: dict[str, AccountBook] = defaultdict(AccountBook)
        self.usage_keys: dict[str, str] = {}  # key -> address
        self.payments: dict[str, tuple[str, int]] = {}  # payment key -> (address, cents)
        self.refund_totals: dict[str, int] = {}  # payment key -> largest gross refunded

    def founding_payment(self, address: str, key: str, cents: int, paid_at: dt.datetime) -> None:
        """A payment credited before any usage: it stamps the paid tenure."""
        self.payment(address, key, cents)
        self.books[address].first_paid_at = paid_at

    def payment(self, address: str, key: str, cents: int) -> None:
        if key in self.payments:
            raise ValueError(f"payment key {key} sent as two payments")
        self.payments[key] = (address, cents)
        self.books[address].paid_cents += cents

    def refund_total(self, key: str, total_cents: int) -> None:
        """A ``charge.refunded`` whose gross refunded total is *total_cents*."""
        address, cents = self.payments[key]
        if total_cents > cents:
            raise ValueError(f"refund of {key} beyond its payment")
        before = self.refund_totals.get(key, 0)
        if total_cents > before:
            self.refund_totals[key] = total_cents
            self.books[address].refunded_cents += total_cents - before

    def adjustment(self, address: str, by_cents: int) -> None:
        self.books[address].adjusted_cents += by_cents

    def threshold(self, address: str, low_cents: int) -> None:
        self.books[address].low_cents = low_cents

    def allowance(self, address: str, cents: int) -> None:
        self.books[address].allowance_cents = cents

    def credit_state(self, address: str, floor_cents: int) -> str:
        book = self.books[address]
        return credit_state(
            book.balance_cents,
            floor_cents=floor_cents,
            allowance_cents=book.allowance_cents,
            low_cents=book.low_cents,
        )

    def plan(self, address: str, plan_id: str) -> None:
        book = self.books[address]
        if book.plan_id is not None:
            raise ValueError(f"{address} bought two plans")
        book.plan_id = plan_id
        book.plan_cents += PLANS[plan_id][0]

    def vm(self, address: str, request_id: str) -> None:
        book = self.books[address]
        if book.plan_id is None or len(book.vm_requests) >= PLANS[book.plan_id][1]:
            raise ValueError(f"{address} has no quota for another VM")
        book.vm_requests.add(request_id)

    def usage(
        self, key: str, address: str, amount_cents: int, applies_to: str, occurred_at: dt.datetime
    ) -> None:
        if key in self.usage_keys:
            raise ValueError(f"usage key {key} journalled twice")
        self.usage_keys[key] = address
        book = self.books[address]
        book.usage_quarters += quarters_of(
            amount_cents, applies_to, occurred_at, book.first_paid_at
        )
