"""Credit states at the hosts: what the run's own bucket holds against the oracle's states.

The run gives its processes a floor under zero (``FLOOR_CENTS``) and a grace period far
beyond its own length (``SUSPEND_AFTER_S``: no account is suspended during a run). Before
the load it sets one account's low threshold and gives another an allowance; after the
drain it moves a few accounts to balances on each side of their limits (``closing``), so
every state but ``suspended`` is published at the end. The expectation is the oracle's
own classification of its own balances; the bucket is read with nats-py and polled until
it matches or a deadline passes (the publisher catches up on its own).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import nats
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError

from tests.chaos.oracle import Oracle
from wire.nats import bucket_key

if TYPE_CHECKING:
    from tests.chaos.plan import Plan
    from tests.chaos.stack import ChaosStack

#: ``HERO_CREDIT_FLOOR_CENTS`` of the run: accounts may go $3.00 under zero.
FLOOR_CENTS = -300
#: ``HERO_SUSPEND_AFTER_S`` of the run: 30 days, so no account is suspended during it.
SUSPEND_AFTER_S = 30 * 86_400
#: The low threshold the run sets for one account, and the allowance it gives another.
THRESHOLD_CENTS = 2_000
ALLOWANCE_CENTS = 200
#: Seconds the bucket is given to match the oracle after the drain.
CATCH_UP_S = 60.0


@dataclass(frozen=True)
class CreditPlan:
    """Accounts whose threshold or allowance the run sets, and the closing balances."""

    threshold: str | None
    allowance: str | None
    #: address -> balance the account is moved to after the drain.
    closing: dict[str, int]


def draw(plan: Plan) -> CreditPlan:
    """Pick accounts without a plan (their VMs stay out of it) from the run's seed.

    The closing balances straddle each limit: under the run's own threshold, just under
    $5.00, exactly the floor, inside the allowance, and one cent above the floor.
    """
    rng = random.Random(plan.seed + 3)
    free = [a.address for a in plan.accounts if not a.plan_id]
    rng.shuffle(free)
    if len(free) < 5:
        return CreditPlan(None, None, {})
    threshold, allowance, *rest = free
    closing = {
        threshold: THRESHOLD_CENTS - 500,
        allowance: FLOOR_CENTS - ALLOWANCE_CENTS + 100,
        rest[0]: 499,
        rest[1]: FLOOR_CENTS,
        rest[2]: FLOOR_CENTS + 1,
    }
    return CreditPlan(threshold, allowance, closing)


def apply_settings(stack: ChaosStack, settings: CreditPlan, oracle: Oracle) -> None:
    """The threshold (the owner's own message) and the allowance (``hero-admin``)."""
    if settings.threshold:
        stack.send(
            [
                (
                    "set_low_balance",
                    {"address": settings.threshold, "low_balance_cents": THRESHOLD_CENTS},
                )
            ]
        )
        oracle.threshold(settings.threshold, THRESHOLD_CENTS)
    if settings.allowance:
        cents = str(ALLOWANCE_CENTS)
        reason = "chaos run allowance"
        done = stack.admin(
            "credit", "allow", settings.allowance, "--cents", cents, "--reason", reason
        )
        if done.returncode != 0:
            raise RuntimeError(f"credit allow: {done.stdout}{done.stderr}")
        oracle.allowance(settings.allowance, ALLOWANCE_CENTS)


def close(stack: ChaosStack, settings: CreditPlan, oracle: Oracle) -> list[str]:
    """Adjust each closing account to its balance (by the oracle's difference)."""
    errors = []
    for address, target in settings.closing.items():
        by = target - oracle.books[address].balance_cents
        if by == 0:
            continue
        done = stack.admin(
            "balance", "adjust", address, "--by", str(by), "--reason", "chaos run closing", "--yes"
        )
        if done.returncode != 0:
            errors.append(f"closing adjustment: {done.stdout}{done.stderr}"[-500:])
        else:
            oracle.adjustment(address, by)
    return errors


def key_of(address: str) -> str:
    return bucket_key(ipaddress.IPv6Address(address).packed.hex())


def read_bucket(url: str, bucket: str) -> dict[str, Any]:
    """Every key's last value (parsed JSON, or the raw bytes when it is not JSON)."""
    return asyncio.run(_read(url, bucket))


async def _read(url: str, bucket: str) -> dict[str, Any]:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        try:
            kv = await js.key_value(bucket)
            keys = await kv.keys()
        except (BucketNotFoundError, NoKeysError):
            return {}
        out: dict[str, Any] = {}
        for key in keys:
            try:
                value = (await kv.get(key)).value or b""
            except KeyNotFoundError:
                continue
            try:
                out[key] = json.loads(value)
            except ValueError:
                out[key] = value
        return out
    finally:
        await nc.close()


def mismatches(held: dict[str, Any], oracle: Oracle) -> list[str]:
    """Each account whose bucket value is not the oracle's state, balance, floor and allowance,
    and each key of an account the run never made."""
    wrong = []
    keys = set()
    for address, book in oracle.books.items():
        key = key_of(address)
        keys.add(key)
        want = {
            "state": oracle.credit_state(address, FLOOR_CENTS),
            "balance_cents": book.balance_cents,
            "floor_cents": FLOOR_CENTS,
            "allowance_cents": book.allowance_cents,
        }
        value = held.get(key)
        if value is None:
            wrong.append(f"{address} credit: no state in the bucket, oracle {want['state']}")
            continue
        got = {k: value.get(k) for k in want} if isinstance(value, dict) else {"raw": value}
        if got != want:
            wrong.append(f"{address} credit: bucket {got}, oracle {want}")
    wrong += [f"{key}: in the bucket for no account of the run" for key in held if key not in keys]
    return wrong


def check(url: str, bucket: str, oracle: Oracle) -> tuple[list[str], str]:
    """Poll the bucket until it matches the oracle or ``CATCH_UP_S`` passes.

    Returns:
        The mismatches left, and the report line's result.
    """
    began = time.monotonic()
    while True:
        wrong = mismatches(read_bucket(url, bucket), oracle)
        waited = time.monotonic() - began
        if not wrong or waited > CATCH_UP_S:
            break
        time.sleep(0.5)
    states = Counter(oracle.credit_state(a, FLOOR_CENTS) for a in oracle.books)
    total = len(oracle.books)
    accounts = sum(not w.startswith("acct.") for w in wrong)
    result = (
        f"{total - accounts}/{total} accounts "
        f"({', '.join(f'{s} {n}' for s, n in sorted(states.items()))}), "
        f"{'still wrong' if wrong else 'matched'} after {waited:.1f}s"
    )
    return wrong, result
