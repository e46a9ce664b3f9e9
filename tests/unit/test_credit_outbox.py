"""The credit outbox as the publisher reads and clears it: a batch of pending states with
their plans read in one go, and only the published sequence cleared (a newer change made
meanwhile stays pending), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from actors.ledger import post
from models import Account, PlanSubscription, write_transaction
from models.credit import CreditState
from runtime.credit_publisher import mark_published, pending
from wire.times import utcnow

ALICE = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
BOB = "4ff:2b7c:1c4d:5a2e:aa01:9b3f:2c11:7d80"


@pytest.fixture(params=["sqlite_db", "pg_db"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(request.param))


def charge(account: Account, cents: int, ref: str) -> None:
    with write_transaction():
        post(account, amount_cents=cents, kind="adjustment", ref=ref)


def test_a_batch_carries_each_account_s_own_plan(database: str) -> None:
    alice, bob = Account.create(address=ALICE), Account.create(address=BOB)
    for old, status in ((2, "expired"), (5, "active")):
        PlanSubscription.create(
            request_id=f"p{old}",
            account=alice,
            plan_id=f"{old}vms",
            price_cents=0,
            vm_quota_total=old,
            vm_quota_used=1,
            status=status,
            period_end=utcnow() + dt.timedelta(days=1),
        )
    charge(alice, 1000, "a")
    charge(bob, 1000, "b")
    payloads = {json.loads(i.value)["address"]: json.loads(i.value) for i in pending()}
    assert (payloads[ALICE]["plan_id"], payloads[ALICE]["vm_quota_total"]) == ("5vms", 5)
    assert (payloads[BOB]["plan_id"], payloads[BOB]["vm_quota_total"]) == (None, 0)


def test_only_the_published_sequence_is_cleared(database: str) -> None:
    alice, bob = Account.create(address=ALICE), Account.create(address=BOB)
    charge(alice, 1000, "a1")
    charge(bob, 1000, "b1")
    batch = pending()
    charge(alice, -10, "a2")  # a newer change lands while the batch is in flight
    mark_published([(i.row_id, i.seq) for i in batch])
    rows = {r.account_id: r for r in CreditState.select()}
    assert (rows[alice.id].pending, rows[alice.id].published_seq, rows[alice.id].seq) == (
        True,
        1,
        2,
    )
    assert (rows[bob.id].pending, rows[bob.id].published_seq) == (False, 1)
    # an older acknowledgement arriving late moves nothing back
    mark_published([(rows[alice.id].id, 2)])
    mark_published([(rows[alice.id].id, 1)])
    row = CreditState.get(CreditState.account == alice)
    assert (row.pending, row.published_seq) == (False, 2)
    assert [i.seq for i in pending()] == []
