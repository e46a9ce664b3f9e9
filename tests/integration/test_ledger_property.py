"""The ledger's write path under random amounts, extremes included, on PostgreSQL and
SQLite: every balance stays an exact integer in bounds, equal to its ledger's sum, and
the real ``hero-admin audit`` passes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.ledger import Posting, audit_mismatches, lock_billing, post, post_many
from models import Account, Billing, LedgerEntry, db, write_transaction
from models.money import MAX_BALANCE_CENTS, MAX_ENTRY_CENTS, AmountOutOfBounds
from tests.support.procs import hero_admin, hero_env

#: Amounts at and around every bound, and past what a 64-bit column holds.
EXTREMES = [
    MAX_BALANCE_CENTS,
    MAX_BALANCE_CENTS + 1,
    MAX_ENTRY_CENTS,
    MAX_ENTRY_CENTS + 1,
    2**62,
    2**63 - 1,
    2**63,
    10**23,
]
AMOUNTS = st.one_of(
    st.integers(-10_000, 10_000),
    st.sampled_from(EXTREMES + [-x for x in EXTREMES]),
    st.integers(-(2**64), 2**64),
)
#: One step: a single post (maybe replaying an earlier ref) or a batch of postings.
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("post"), AMOUNTS, st.booleans()),
        st.tuples(st.just("batch"), st.lists(AMOUNTS, min_size=1, max_size=3), st.just(False)),
    ),
    min_size=1,
    max_size=12,
)


def run_steps(steps: list[tuple[str, Any, bool]]) -> int:
    """Apply *steps* to a new account; return the balance a correct ledger must show."""
    account = Account.create(address=f"prop-{uuid.uuid4().hex}")
    expected, refs = 0, list[str]()
    for n, (what, amount, replay) in enumerate(steps):
        amounts = amount if isinstance(amount, list) else [amount]
        fits = all(abs(a) <= MAX_ENTRY_CENTS for a in amounts)
        after = expected + sum(amounts)
        running = [expected + sum(amounts[: i + 1]) for i in range(len(amounts))]
        fits = fits and all(abs(b) <= MAX_BALANCE_CENTS for b in running)
        ref = refs[0] if replay and refs else f"{account.address}:{n}"
        try:
            with write_transaction():
                if what == "post":
                    posted = post(account, amount_cents=amounts[0], kind="adjustment", ref=ref)
                    if posted is None:  # a replayed ref changes nothing
                        continue
                else:
                    states = lock_billing({account.id})
                    postings = [
                        Posting(account.id, a, f"{ref}.{i}", {}, 0) for i, a in enumerate(amounts)
                    ]
                    post_many("usage", postings, states)
        except AmountOutOfBounds:
            assert not fits, f"{amounts} from {expected} was refused but fits"
            continue
        assert fits, f"{amounts} from {expected} was posted but leaves the bounds"
        expected = after
        refs.append(ref)
    balance = db.execute_sql(
        f"SELECT balance_cents FROM billing WHERE account_id = {db.obj.param}", (account.id,)
    ).fetchone()
    stored = balance[0] if balance else 0
    assert type(stored) is int and stored == expected
    total = sum(
        int(e.amount_cents) for e in LedgerEntry.select().where(LedgerEntry.account == account)
    )
    assert total == expected
    return expected


def test_random_amounts_keep_balance_equal_to_ledger_and_the_audit_passes(
    database_url: str,
) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(STEPS)
    def check(steps: list[tuple[str, object, bool]]) -> None:
        run_steps(steps)
        assert audit_mismatches() == []

    check()
    assert Billing.select().count() > 0
    audited = hero_admin("audit", "--json", env=hero_env(HERO_DATABASE_URL=database_url))
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert json.loads(audited.stdout)["ok"] is True
