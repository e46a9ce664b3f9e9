"""``hero-admin credit allow`` through the real CLI, RabbitMQ and a worker on PostgreSQL:
the allowance is signed, audited, changes the state, and the bucket hosts watch holds it;
a refusal names the field and changes nothing."""

from __future__ import annotations

import asyncio
import json

import nats

from actors.ledger import post
from models import Account, AdminAudit, write_transaction
from models.credit import CreditState
from tests.support.credit_stack import (
    ADDRESS,
    Credit,
)
from tests.support.nats_helpers import NATS_URL
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack
from wire.address import parse_address


def in_bucket(bucket: str) -> dict:
    async def read() -> dict:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            kv = await nc.jetstream(timeout=5).key_value(bucket)
            entry = await kv.get("acct." + parse_address(ADDRESS).packed.hex())
            assert entry.value is not None
            return dict(json.loads(entry.value))
        finally:
            await nc.close()

    try:
        return asyncio.run(read())
    except Exception:  # noqa: BLE001 - not there yet
        return {}


def test_credit_allow_through_the_cli_and_a_worker_reaches_the_bucket(
    pg_stack: Stack,
    credit: Credit,  # noqa: F811 - the fixture
) -> None:
    # Given an exhausted account and a worker publishing credit states
    account = Account.create(address=ADDRESS)
    with write_transaction():
        post(account, amount_cents=-50, kind="adjustment", ref="usage")
    pg_stack.worker(**credit.env)
    wait_until(lambda: in_bucket(credit.bucket).get("state") == "exhausted", what="exhausted")
    # When an operator allows it $2 below the floor
    done = hero_admin(
        "credit",
        "allow",
        ADDRESS,
        "--cents",
        "200",
        "--reason",
        "trusted customer",
        env=pg_stack.admin_env(),
    )
    # Then it is applied, audited with the operator's key, and hosts see it low
    assert done.returncode == 0, done.stdout + done.stderr
    assert "may go to -$2.00" in done.stdout and "state low" in done.stdout
    audit = AdminAudit.get(AdminAudit.action == "credit_allow")
    assert audit.outcome == "applied" and audit.operator_pubkey
    assert json.loads(audit.args)["reason"] == "trusted customer"
    stored = wait_until(
        lambda: (v := in_bucket(credit.bucket)).get("state") == "low" and v, what="low in bucket"
    )
    assert (stored["allowance_cents"], stored["balance_cents"]) == (200, -50)
    # When an operator asks for a negative allowance, or signs with no key
    refused = hero_admin(
        "credit",
        "allow",
        ADDRESS,
        "--cents",
        "-5",
        "--reason",
        "oops",
        "--json",
        env=pg_stack.admin_env(),
    )
    unsigned = hero_admin(
        "credit",
        "allow",
        ADDRESS,
        "--cents",
        "5",
        "--reason",
        "oops",
        env=pg_stack.admin_env(with_key=False),
    )
    # Then both are refused, naming why, audited, and nothing changed
    assert (
        refused.returncode == 1
        and "cents: -5 is below zero" in json.loads(refused.stdout)["reason"]
    )
    assert unsigned.returncode == 1 and "unsigned" in unsigned.stdout
    assert AdminAudit.select().where(AdminAudit.outcome == "refused").count() == 2
    assert CreditState.get().allowance_cents == 200
