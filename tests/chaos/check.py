"""After the drain: the product's state against the oracle, read straight from PostgreSQL.

These reads only compare; nothing the oracle expects is taken from them.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field

import psycopg2

from tests.chaos.oracle import Oracle

#: Alerts the run raises on purpose: the force-push and the Forge it takes away.
EXPECTED_ALERTS = frozenset({"force_push", "forge_unavailable"})
#: Ledger kinds and the oracle's book field each one must sum to (signed).
KINDS = ("payment", "refund", "adjustment", "plan_purchase", "usage")


@dataclass
class Verdict:
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    #: Accounts whose state at the hosts (the credit bucket) is not the oracle's.
    credit: list[str] = field(default_factory=list)
    checks: list[tuple[str, str]] = field(default_factory=list)  # (invariant, result)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.doubled or self.other or self.credit)


def balances(db_url: str) -> dict[str, int]:
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT a.address, b.balance_cents FROM account a JOIN billing b ON b.account_id = a.id"
        )
        return {address: int(cents) for address, cents in cur.fetchall()}


def settled(db_url: str, oracle: Oracle) -> bool:
    """Whether every balance is the oracle's (the drain waits for this, with a deadline)."""
    found = balances(db_url)
    return all(found.get(a) == book.balance_cents for a, book in oracle.books.items())


def _expected(oracle: Oracle, address: str) -> dict[str, int]:
    book = oracle.books[address]
    return {
        "payment": book.paid_cents,
        "refund": -book.refunded_cents,
        "adjustment": book.adjusted_cents,
        "plan_purchase": -book.plan_cents,
        "usage": -book.usage_cents,
    }


def compare(db_url: str, oracle: Oracle, caused: Collection[tuple[str, str]] = ()) -> Verdict:
    """*caused*: the alerts (kind, subject) the run's faults made sure to cause."""
    verdict = Verdict()
    with psycopg2.connect(db_url) as conn, conn.cursor() as cur:
        _usage(cur, oracle, verdict)
        _payments(cur, oracle, verdict)
        _money(cur, oracle, verdict)
        _plans(cur, oracle, verdict)
        _alerts(cur, verdict, caused)
    return verdict


def _usage(cur: psycopg2.extensions.cursor, oracle: Oracle, verdict: Verdict) -> None:
    cur.execute("SELECT key FROM usage_record")
    rows = Counter(key for (key,) in cur.fetchall())
    missing = [k for k in oracle.usage_keys if k not in rows]
    verdict.lost += [f"usage {k}: never recorded" for k in missing]
    verdict.doubled += [f"usage {k}: {n} rows" for k, n in rows.items() if n > 1]
    verdict.other += [
        f"usage {k}: recorded but never sent" for k in rows if k not in oracle.usage_keys
    ]
    cur.execute("SELECT details FROM ledger_entry WHERE kind = 'usage'")
    charged: Counter[str] = Counter()
    for (details,) in cur.fetchall():
        charged.update(json.loads(details).get("keys", []))
    twice = [k for k, n in charged.items() if n > 1]
    verdict.doubled += [f"usage {k}: charged {charged[k]} times" for k in twice]
    verdict.checks.append(
        (
            "every record recorded once",
            f"{len(rows)} keys, {len(missing)} missing, {sum(n > 1 for n in rows.values())} twice",
        )
    )
    verdict.checks.append(
        (
            "every record charged at most once",
            f"{len(charged)} keys in the ledger, {len(twice)} twice",
        )
    )


def _payments(cur: psycopg2.extensions.cursor, oracle: Oracle, verdict: Verdict) -> None:
    cur.execute("SELECT ref, count(*) FROM ledger_entry WHERE kind = 'payment' GROUP BY ref")
    credited = {ref.split(":", 1)[1]: int(n) for ref, n in cur.fetchall()}
    missing = [k for k in oracle.payments if k not in credited]
    twice = [k for k, n in credited.items() if n > 1]
    verdict.lost += [f"payment {k}: never credited" for k in missing]
    verdict.doubled += [f"payment {k}: credited {credited[k]} times" for k in twice]
    verdict.other += [
        f"payment {k}: credited but never sent" for k in credited if k not in oracle.payments
    ]
    verdict.checks.append(
        (
            "every payment credited once",
            f"{len(credited)} credited, {len(missing)} missing, {len(twice)} twice",
        )
    )


def _money(cur: psycopg2.extensions.cursor, oracle: Oracle, verdict: Verdict) -> None:
    cur.execute(
        "SELECT a.address, l.kind, sum(l.amount_cents) FROM ledger_entry l "
        "JOIN account a ON a.id = l.account_id GROUP BY a.address, l.kind"
    )
    sums: dict[str, dict[str, int]] = defaultdict(dict)
    for address, kind, total in cur.fetchall():
        sums[address][kind] = int(total)
    found = balances_of(cur)
    wrong = 0
    for address in oracle.books:
        want = _expected(oracle, address)
        for kind in KINDS:
            got = sums[address].get(kind, 0)
            if got != want[kind]:
                side = verdict.lost if abs(got) < abs(want[kind]) else verdict.doubled
                side.append(f"{address} {kind}: ledger {got}, oracle {want[kind]}")
        if found.get(address) != oracle.books[address].balance_cents:
            wrong += 1
            verdict.other.append(
                f"{address} balance: {found.get(address)}, "
                f"oracle {oracle.books[address].balance_cents}"
            )
    verdict.checks.append(
        (
            "every balance equals the oracle's",
            f"{len(oracle.books) - wrong}/{len(oracle.books)} accounts",
        )
    )


def balances_of(cur: psycopg2.extensions.cursor) -> dict[str, int]:
    cur.execute(
        "SELECT a.address, b.balance_cents FROM account a JOIN billing b ON b.account_id = a.id"
    )
    return {address: int(cents) for address, cents in cur.fetchall()}


def _plans(cur: psycopg2.extensions.cursor, oracle: Oracle, verdict: Verdict) -> None:
    cur.execute(
        "SELECT a.address, p.plan_id, count(*) FROM plan_subscription p "
        "JOIN account a ON a.id = p.account_id GROUP BY a.address, p.plan_id"
    )
    plans = {(address, plan): int(n) for address, plan, n in cur.fetchall()}
    cur.execute(
        "SELECT a.address, count(*) FROM vm_allocation v "
        "JOIN account a ON a.id = v.account_id GROUP BY a.address"
    )
    vms = {address: int(n) for address, n in cur.fetchall()}
    bought = {a: b for a, b in oracle.books.items() if b.plan_id}
    for address, book in bought.items():
        held = plans.get((address, book.plan_id or ""), 0)
        if held != 1:
            verdict.other.append(f"{address}: plan {book.plan_id} x{held}")
        got, want = vms.get(address, 0), len(book.vm_requests)
        if got != want:
            verdict.other.append(f"{address}: {got} VMs, oracle {want}")
    asked = sum(len(b.vm_requests) for b in bought.values())
    verdict.checks.append(
        ("plans bought and VMs allocated once", f"{len(bought)} plans, {asked} VMs")
    )


def _alerts(
    cur: psycopg2.extensions.cursor, verdict: Verdict, caused: Collection[tuple[str, str]]
) -> None:
    cur.execute("SELECT kind, subject FROM alert")
    raised = Counter((kind, subject) for kind, subject in cur.fetchall())
    kinds = Counter(kind for kind, _ in raised.elements())
    stray = {k: n for k, n in sorted(kinds.items()) if k not in EXPECTED_ALERTS}
    verdict.other += [f"alert {k} x{n} not caused on purpose" for k, n in stray.items()]
    missing = sorted(set(caused) - set(raised))
    verdict.other += [f"alert {k} for {s} caused on purpose but never raised" for k, s in missing]
    verdict.checks.append(
        (
            "every alert caused on purpose",
            ", ".join(f"{k} x{n}" for k, n in sorted(kinds.items())) or "none",
        )
    )
    verdict.checks.append(
        (
            "every alert caused is raised",
            f"{len(set(caused)) - len(missing)}/{len(set(caused))}"
            + "".join(f", {k} {s}" for k, s in sorted(set(caused))),
        )
    )
