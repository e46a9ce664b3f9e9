"""Races on PostgreSQL: a funded account, and calls started at the same instant."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from actors.ledger import post
from models import (
    Account,
    db,
    write_transaction,
)


def funded(cents: int) -> Account:
    account = Account.create(address=f"race-{uuid.uuid4().hex[:20]}")
    with write_transaction():
        post(account, amount_cents=cents, kind="payment", ref=f"seed:{account.address}")
    return account


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run *calls* in threads (each with its own connection), released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        start.wait()
        try:
            return call()
        finally:
            db.close()  # give this thread's connection back to the pool

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))
