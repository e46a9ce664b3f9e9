"""apply_usage_batch in a real worker process: killed mid-batch, charged once after restart."""

from __future__ import annotations

import datetime as dt
import signal

import psycopg2

import actors
import messages
from models import Account, Billing, LedgerEntry, UsageRecord
from tests.support.procs import wait_until
from tests.support.stack import Stack, waiting_on_lock

USERS = ["520:c662:fd00:9e92:5d99:34ed:ab8:82ab", "52d:dc0:ab0c:851a:6e34:e79d:1f3f:15d3"]


def records(count: int) -> list[dict]:
    moment = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return [
        {
            "key": f"node-a:{i}",
            "node": "node-a",
            "user": USERS[i % 2],
            "resource_kind": "llm_token",
            "applies_to": "llm",
            "quantity": 10,
            "amount_cents": 3,
            "occurred_at": moment,
        }
        for i in range(count)
    ]


def test_worker_killed_mid_batch_charges_each_record_once_after_restart(
    pg_stack: Stack, pg_db: str
) -> None:
    # Given a batch whose transaction will block on the second account's billing row
    accounts = [Account.create(address=a) for a in USERS]
    for account in accounts:
        Billing.create(account=account)
    first = pg_stack.worker("worker-1")
    locker = psycopg2.connect(pg_db)
    locker.cursor().execute(
        "SELECT id FROM billing WHERE account_id = %s FOR UPDATE", (accounts[1].id,)
    )
    actors.build_broker(pg_stack.env["HERO_AMQP_URL"])
    actors.send(messages.ApplyUsageBatch(records=records(400), via="nats"))
    wait_until(lambda: waiting_on_lock(pg_db), what="the worker to block mid-batch")

    # When the worker dies there, and the row is released
    first.kill(signal.SIGKILL)
    locker.rollback()
    locker.close()
    assert UsageRecord.select().count() == 0

    # Then the redelivered batch is applied once by a new worker
    second = pg_stack.worker("worker-2")
    second.wait_lines("message.processed", '"actor_name": "apply_usage_batch"')
    assert UsageRecord.select().count() == 400
    assert [Billing.get(Billing.account == a).balance_cents for a in accounts] == [-600, -600]
    assert LedgerEntry.select().where(LedgerEntry.kind == "usage").count() == 2
    actors.build_broker(None)
