"""Schema version 2 on a version-1 database, on PostgreSQL and SQLite: request ids become
per account, and an account left with two active plans keeps the newest."""

from __future__ import annotations

import json

import peewee
import pytest

import models
from models import Account, Alert, PlanSubscription, VmAllocation, VmPoolSlot, db
from models.migrations import LATEST_VERSION, MIGRATIONS, SchemaVersion
from models.plans import ONE_ACTIVE_PLAN_INDEX
from wire.times import utcnow


def back_to_version_1() -> None:
    """Give the bound database the version-1 shape of the request tables."""
    db.execute_sql(f"DROP INDEX {ONE_ACTIVE_PLAN_INDEX}")
    for table, owner in (
        ("action_request", "address"),
        ("plan_subscription", "account_id"),
        ("vm_allocation", "account_id"),
    ):
        db.execute_sql(f"DROP INDEX {table}_{owner}_request_id")
        db.execute_sql(f"CREATE UNIQUE INDEX {table}_request_id ON {table} (request_id)")
    SchemaVersion.update(version=1).execute()


def test_version_2_keeps_the_newest_active_plan_and_makes_request_ids_per_account(
    database_url: str,
) -> None:
    # Given a version-1 database where one account bought two plans at the same moment
    back_to_version_1()
    account = Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab")
    other = Account.create(address="41f:9a01:3c22:7e10:aa55:1234:5678:9abc")
    now = utcnow()
    older, newer = (
        PlanSubscription.create(
            request_id=r,
            account=account,
            plan_id="5vms",
            price_cents=1000,
            vm_quota_total=5,
            vm_quota_used=1,
            period_end=now,
        )
        for r in ("r1", "r2")
    )
    slot = VmPoolSlot.create(vm_id="vm-1", status="assigned")
    VmAllocation.create(request_id="v1", account=account, subscription=older, slot=slot)

    done = models.migrate()

    # Then the older plan ended, its VM went back to the pool, and an operator is told
    assert done == [f"applied {m.version}: {m.description}" for m in MIGRATIONS[1:]]
    assert done[0] == "applied 2: request ids per account; one active plan per account"
    assert PlanSubscription.get_by_id(older.id).status == "expired"
    assert PlanSubscription.get_by_id(newer.id).status == "active"
    assert VmPoolSlot.get().status == "free" and VmAllocation.get().released_at is not None
    alert = Alert.get()
    assert alert.kind == "duplicate_plan" and f"plan {older.id}" in alert.message
    assert json.loads(alert.details) == {}
    # And a request id may repeat across accounts, never twice for one, nor a second plan
    PlanSubscription.create(
        request_id="r1",
        account=other,
        plan_id="5vms",
        price_cents=1000,
        vm_quota_total=5,
        period_end=now,
    )
    with pytest.raises(peewee.IntegrityError), db.atomic():
        PlanSubscription.create(
            request_id="r3",
            account=account,
            plan_id="5vms",
            price_cents=1000,
            vm_quota_total=5,
            period_end=now,
        )
    assert models.migrate() == [f"schema is up to date at version {LATEST_VERSION}"]
