"""The node agent's knowledge of every account's credit state, kept in memory.

A watcher reads the NATS key-value bucket ``HERO_NATS_CREDIT_BUCKET`` (every key's last
value first, then each change as it is put) into a ``CreditBook``. The book keeps, per
account, the value with the highest sequence number it saw, and the time it last knew
the bucket was reachable. ``answer`` is what ``GET /credit/{address}`` and
``hero-node credit`` say: the state and its age, or ``unknown`` when the agent never
loaded the bucket, has no state for the address, or has heard nothing for longer than
``HERO_NODE_CREDIT_STALE_S``. A lost connection is given up and made again from scratch,
with a fresh watcher that loads every key's last value, so nothing put during the cut is
missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from wire.nats import address_hex_of

log = structlog.get_logger("hero.node.credit")

#: Seconds between checks of the connection while the bucket is quiet.
TICK_S = 0.25
#: The longest pause, in seconds, between connection attempts.
MAX_BACKOFF_S = 5.0


class CreditBook:
    """Credit states by address hex, with how fresh the agent's knowledge is (thread-safe)."""

    def __init__(self, *, stale_s: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._stale_s = stale_s
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {}
        self._synced_at: float | None = None

    def apply(self, address_hex: str, value: bytes) -> bool:
        """Keep *value* for *address_hex* when its sequence is newer than the one held."""
        try:
            state = json.loads(value)
            seq = state["seq"]
        except (ValueError, KeyError, TypeError):
            log.warning("credit.bad_value", key=address_hex)
            return False
        if not isinstance(seq, int) or not isinstance(state.get("state"), str):
            log.warning("credit.bad_value", key=address_hex)
            return False
        with self._lock:
            held = self._states.get(address_hex)
            if held is not None and held["seq"] >= seq:
                return False
            self._states[address_hex] = state
            return True

    def touch(self) -> None:
        """The bucket was reachable and every put so far was read: knowledge is current."""
        with self._lock:
            self._synced_at = self._clock()

    @property
    def loaded(self) -> bool:
        return self._synced_at is not None

    def answer(self, address_hex: str) -> dict[str, Any]:
        """What a host is told about the account at *address_hex*."""
        with self._lock:
            held = self._states.get(address_hex)
            synced = self._synced_at
        age = None if synced is None else round(max(self._clock() - synced, 0.0), 3)
        base: dict[str, Any] = {"age_s": age, "stale_after_s": self._stale_s}
        if synced is None:
            return {**base, "state": "unknown", "reason": "credit states not loaded yet"}
        if held is None:
            return {**base, "state": "unknown", "reason": "no credit state for this address"}
        answer = {**held, **base, "stale": age is not None and age > self._stale_s}
        if answer["stale"]:
            answer["last_state"] = held["state"]
            answer["state"] = "unknown"
            answer["reason"] = f"no news from the billing service for {age:.0f} s"
        return answer


async def watch(nats_url: str, bucket: str, book: CreditBook, stop: threading.Event) -> None:
    """Keep *book* up to date from *bucket* until *stop*; reconnects from scratch."""
    import nats
    from nats.errors import Error as NatsError

    backoff = 0.25
    while not stop.is_set():
        nc = None
        try:
            nc = await nats.connect(
                nats_url,
                connect_timeout=2,
                allow_reconnect=False,
                ping_interval=2,
                max_outstanding_pings=2,
                name="hero-node credit",
            )
            await _follow(nc, bucket, book, stop)
            backoff = 0.25
        except (OSError, TimeoutError, NatsError, ConnectionError) as exc:
            log.warning("credit.watch_lost", error=repr(exc), retry_in_s=backoff)
        except Exception as exc:  # noqa: BLE001 - keep the last states, try again
            log.exception("credit.watch_crashed", error=repr(exc), retry_in_s=backoff)
        finally:
            if nc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(nc.close(), timeout=2)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_S)


async def _follow(nc: Any, bucket: str, book: CreditBook, stop: threading.Event) -> None:
    from nats.errors import TimeoutError as NatsTimeout
    from nats.js.errors import BucketNotFoundError

    js = nc.jetstream(timeout=5)
    try:
        kv = await js.key_value(bucket)
    except BucketNotFoundError:
        kv = await js.create_key_value(bucket=bucket, history=1)
    watcher = await kv.watchall()
    loaded = False
    try:
        while not stop.is_set():
            if nc.is_closed or not nc.is_connected:
                raise ConnectionError("NATS connection lost")
            try:
                entry = await watcher.updates(timeout=TICK_S)
            except (NatsTimeout, TimeoutError):
                entry = False
            if entry is None and not loaded:  # every key's last value is read
                loaded = True
                log.info("credit.loaded", bucket=bucket)
            elif entry and entry.operation is None and entry.value is not None:
                book.apply(address_hex_of(entry.key), entry.value)
            if loaded:
                book.touch()
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()


def start_watch(
    nats_url: str, bucket: str, book: CreditBook, stop: threading.Event
) -> threading.Thread:
    """Run the watcher in a daemon thread until *stop*."""
    thread = threading.Thread(
        target=lambda: asyncio.run(watch(nats_url, bucket, book, stop)),
        name="credit-watch",
        daemon=True,
    )
    thread.start()
    return thread
