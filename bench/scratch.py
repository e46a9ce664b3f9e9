"""Throwaway resources of one bench run: RabbitMQ vhosts, PostgreSQL databases, accounts.

Each is a context manager that removes what it made on the way out, failure or not, so a
bench run leaves the shared servers as it found them.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.services import create_pg_database, drop_pg_database

#: Where the bench finds RabbitMQ (the guest user is given the scratch vhost).
AMQP_BASE = "amqp://guest:guest@127.0.0.1:5672"


def scratch_name(kind: str) -> str:
    """A name no one else on the machine uses: ``hero_bench_<kind>_<random>``."""
    return f"hero_bench_{kind}_{uuid.uuid4().hex[:8]}"


def _rabbitmqctl(*args: str, check: bool = True) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True, timeout=60)


@contextmanager
def scratch_vhost(kind: str) -> Iterator[str]:
    """A fresh RabbitMQ vhost for guest; yields its AMQP URL and deletes it afterwards."""
    vhost = scratch_name(kind)
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"{AMQP_BASE}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost, check=False)


@contextmanager
def scratch_database(kind: str) -> Iterator[str]:
    """A fresh PostgreSQL database with the product's schema; yields its URL, then drops it."""
    import models

    name = scratch_name(kind)
    database = None
    try:
        url = create_pg_database(name)
        database = models.init_database(url)
        models.migrate()
        yield url
    finally:
        if database is not None:
            database.close_all() if hasattr(database, "close_all") else database.close()
        drop_pg_database(name)


def mycelium_addresses(count: int, *, seed: int = 7) -> list[str]:
    """*count* distinct, valid Mycelium addresses (canonical text, inside ``400::/7``)."""
    rng = random.Random(seed)
    addresses: set[str] = set()
    while len(addresses) < count:
        raw = bytearray(rng.randbytes(16))
        raw[0] = 0x04 | (raw[0] & 1)
        addresses.add(str(ipaddress.IPv6Address(bytes(raw))))
    return sorted(addresses)


def create_accounts(addresses: list[str]) -> None:
    """Insert an account with a zero billing row for each address (database bound)."""
    from models import Account, Billing, db
    from wire.times import utcnow

    now = utcnow()
    with db.atomic():
        Account.insert_many([{"address": a, "created_at": now} for a in addresses]).execute()
        ids = [a.id for a in Account.select(Account.id)]
        Billing.insert_many([{"account": i, "updated_at": now} for i in ids]).execute()
