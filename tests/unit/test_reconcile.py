"""hero-admin reconcile: keys seen on one path only, after a grace period."""

from __future__ import annotations

import datetime as dt

from actors.usage import apply_batch
from cli.admin_usage import reconcile_rows
from models import Account, UsageRecord
from wire.times import utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


def rec(seq: int) -> dict:
    return {
        "key": f"node-a:{seq}",
        "node": "node-a",
        "user": USER,
        "resource_kind": "vm_hour",
        "applies_to": "vm",
        "quantity": 1,
        "amount_cents": 1,
        "occurred_at": "2026-11-21T10:00:00Z",
    }


def test_reconcile_lists_keys_seen_on_one_path_only(sqlite_db: str) -> None:
    Account.create(address=USER)
    apply_batch([rec(1), rec(2)], via="nats", now=NOW)
    apply_batch([rec(2), rec(3)], via="git", now=NOW)
    seen = UsageRecord.get(UsageRecord.key == "node-a:2")
    assert seen.seen_nats_at is not None and seen.seen_git_at is not None
    later = utcnow() + dt.timedelta(hours=3)
    assert reconcile_rows(120, now=later) == {
        "nats_not_in_git": ["node-a:1"],
        "git_not_in_nats": ["node-a:3"],
    }
    assert reconcile_rows(120) == {"nats_not_in_git": [], "git_not_in_nats": []}
