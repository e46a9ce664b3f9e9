"""What a run sends, drawn from its seed: accounts, usage, payments, refunds, operator work.

Drawing everything up front keeps a run reproducible: ``CHAOS_SEED`` gives the same
accounts, amounts, delivery orders and fault moments (what a crashed process had in
flight still differs, which is the point of the run).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import random
from dataclasses import dataclass, field
from typing import Any

#: Paid tenure of the founding payment, in hours before the run (None: never paid before).
#: Usage happens in the 6 hours before the run, so 7 d + 3 h and 30 d - 2 h straddle a rung.
TENURES_H: tuple[int | None, ...] = (None, 72, 7 * 24 + 3, 10 * 24, 30 * 24 - 2, 45 * 24)
CATEGORIES = {"vm": "vm_hour", "llm": "llm_token", "hero_os_hourly": "hero_os_hour"}


@dataclass(frozen=True)
class Size:
    accounts: int
    plan_accounts: int
    records: int
    payments: int
    refund_share: float
    adjustments: int
    kills: int
    cuts: int
    slows: int
    load_s: float
    workers: int = 2
    nodes: int = 4


FULL = Size(
    accounts=120,
    plan_accounts=12,
    records=100_000,
    payments=5_000,
    refund_share=0.1,
    adjustments=20,
    kills=14,
    cuts=4,
    slows=3,
    load_s=150.0,
)
SHORT = Size(
    accounts=12,
    plan_accounts=2,
    records=3_000,
    payments=150,
    refund_share=0.15,
    adjustments=3,
    kills=4,
    cuts=2,
    slows=1,
    load_s=25.0,
    nodes=3,
)


def address(rng: random.Random) -> str:
    raw = bytearray(rng.randbytes(16))
    raw[0] = rng.choice((4, 5))
    return str(ipaddress.IPv6Address(bytes(raw)))


@dataclass
class Account:
    address: str
    tenure_h: int | None
    founding_cents: int
    plan_id: str | None = None


@dataclass
class Usage:
    node: str
    user: str
    applies_to: str
    quantity: int
    amount_cents: int
    occurred_at: dt.datetime

    def body(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "resource_kind": CATEGORIES[self.applies_to],
            "applies_to": self.applies_to,
            "quantity": self.quantity,
            "amount_cents": self.amount_cents,
            "occurred_at": self.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass
class Payment:
    key: str
    address: str
    cents: int
    #: Gross refunded totals of the charge.refunded events sent, in the order they happened.
    refund_totals: list[int] = field(default_factory=list)
    #: The older shape (with the charge's refunds list) rather than only amount_refunded.
    listed: bool = False


@dataclass
class Plan:
    seed: int
    size: Size
    start: dt.datetime
    accounts: list[Account]
    usage: list[Usage]
    payments: list[Payment]
    adjustments: list[tuple[str, int]]
    #: Webhook deliveries in the order they are made: (payment index, refund step or -1).
    deliveries: list[tuple[int, int]]


def draw(seed: int, size: Size, start: dt.datetime) -> Plan:
    rng = random.Random(seed)
    accounts = []
    for i in range(size.accounts):
        tenure = TENURES_H[i % len(TENURES_H)]
        plan_id = None
        if i < size.plan_accounts:
            tenure = tenure or 24
            plan_id = rng.choice(("5vms", "10vms"))
        founding = 0 if tenure is None else (500_000 if plan_id else rng.randrange(1_000, 30_000))
        accounts.append(Account(address(rng), tenure, founding, plan_id))
    nodes = [f"node-{i}" for i in range(size.nodes)]
    usage = []
    for _ in range(size.records):
        category = rng.choice(tuple(CATEGORIES))
        usage.append(
            Usage(
                node=rng.choice(nodes),
                user=rng.choice(accounts).address,
                applies_to=category,
                quantity=rng.randrange(1, 5000),
                amount_cents=rng.randrange(0, 21),
                occurred_at=start - dt.timedelta(seconds=rng.randrange(60, 6 * 3600)),
            )
        )
    payments = []
    for i in range(size.payments):
        cents = rng.randrange(100, 50_000)
        payment = Payment(f"pi_chaos{seed}x{i}", rng.choice(accounts).address, cents)
        if rng.random() < size.refund_share:
            first = rng.randrange(1, cents + 1)
            payment.refund_totals.append(first)
            if first < cents and rng.random() < 0.5:
                payment.refund_totals.append(rng.randrange(first + 1, cents + 1))
            payment.listed = rng.random() < 0.5
        payments.append(payment)
    deliveries = []
    for index, payment in enumerate(payments):
        deliveries += [(index, -1)] * rng.randint(1, 3)
        for step in range(len(payment.refund_totals)):
            deliveries += [(index, step)] * rng.randint(1, 3)
    # Out of order, but not wildly: each delivery moves up to ~5% of the run from its place.
    spread = max(10, len(deliveries) // 20)
    deliveries = [
        d
        for _, d in sorted(
            (pos + rng.uniform(-spread, spread), d) for pos, d in enumerate(deliveries)
        )
    ]
    adjustments = [
        (rng.choice(accounts).address, rng.choice((-1, 1)) * rng.randrange(1, 40_000))
        for _ in range(size.adjustments)
    ]
    return Plan(seed, size, start, accounts, usage, payments, adjustments, deliveries)
