"""Batches from a JetStream pull consumer, without a task per message.

nats-py's ``PullSubscription.fetch`` takes each message of a batch with ``next_msg``: a
uuid4, a task and a ``wait_for`` task per message, ~18 us of the event loop's time, as
much as the rest of a raw consumer's work (measured: 26 us a message fetched and acked
with ``fetch``, 8 us with this class). Here the messages of a pull request land in a
list from the subscription's callback, and a fetch is woken once, when its batch is full
or the server said that no more will come.

The protocol is JetStream's own (what ``fetch`` sends): a request on
``$JS.API.CONSUMER.MSG.NEXT.<stream>.<durable>`` asking for ``batch`` messages, to expire
after the fetch's timeout; the server sends up to ``batch`` messages to the reply
subject and, if it sent fewer when the request expired (or had none for a ``no_wait``),
a status message without body (408 or 404). Each request has its own reply subject, so a
status that comes late for an earlier request does not end a later fetch. A message
that arrives after its fetch gave up is kept for the next fetch, never dropped.

With ``fill``, a fetch returns at most ``fill`` seconds after its first message came, full
or not: records flowing at a steady rate go as one batch, and none waits for a batch that
the rate would fill only after the request's expiry.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import nats.errors

#: Statuses that end a pull request without an error: no messages (404), request
#: expired (408).
END_STATUSES = frozenset({"404", "408"})
#: The status of an idle heartbeat, which ends nothing.
HEARTBEAT_STATUS = "100"
#: Seconds a fetch waits beyond its request's expiry for the server's status message.
EXPIRY_GRACE_S = 0.1
#: Nanoseconds in a second (``expires`` is given in nanoseconds).
NS_PER_S = 1_000_000_000


class PullFailed(nats.errors.Error):
    """The server ended a pull request with an error status (the consumer is gone, ...)."""


class PullBatches:
    """``fetch(batch, timeout=...)`` over the durable pull consumer *durable* of *stream*.

    Call ``start`` once before fetching; one fetch at a time.
    """

    def __init__(self, nc: Any, *, stream: str, durable: str) -> None:
        self._nc = nc
        self._api = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = ""
        self._requests = itertools.count(1)
        self._current = ""  # reply subject of the pull request being waited for
        self._want = 0
        self._got: list[Any] = []
        self._ended: str | None = None  # the status that ended the current request
        self._woken: asyncio.Future[None] | None = None  # the batch is full or ended
        self._first: asyncio.Future[None] | None = None  # a first message is here

    async def start(self) -> PullBatches:
        self._inbox = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._inbox}.*", cb=self._arrived)
        return self

    async def _arrived(self, msg: Any) -> None:
        status = _status(msg)
        if status is None:
            self._got.append(msg)
        elif status == HEARTBEAT_STATUS or msg.subject != self._current:
            return  # a heartbeat, or the end of a request already given up
        else:
            self._ended = status
        _wake(self._first if self._got else None)
        full = self._ended is not None or len(self._got) >= self._want
        _wake(self._woken if full else None)

    async def fetch(self, batch: int, *, timeout: float, fill: float | None = None) -> list[Any]:
        """Up to *batch* messages, waiting up to *timeout* seconds for them; with *fill*,
        returning at most *fill* seconds after the first of them came.

        Raises:
            nats.errors.TimeoutError: none came (the stream is idle).
            PullFailed: the server refused the request (its status and description).
        """
        if len(self._got) < batch:
            await self._request(batch - len(self._got), timeout, fill)
        got, self._got = self._got[:batch], self._got[batch:]
        if got:
            return got
        if self._ended is not None and self._ended not in END_STATUSES:
            raise PullFailed(f"pull request ended with status {self._ended}")
        raise nats.errors.TimeoutError

    async def _request(self, count: int, timeout: float, fill: float | None) -> None:
        loop = asyncio.get_running_loop()
        self._current = f"{self._inbox}.{next(self._requests)}"
        self._want, self._ended = count + len(self._got), None
        woken = self._woken = loop.create_future()
        first = self._first = loop.create_future() if fill is not None else None
        _wake(first if self._got else None)  # messages kept from before count as come
        body = {"batch": count, "expires": max(1, int(timeout * NS_PER_S))}
        try:
            await self._nc.publish(self._api, json.dumps(body).encode(), reply=self._current)
            # Without an answer at all (a reconnect lost the request) what came is returned.
            waits = {woken} if first is None else {woken, first}
            await asyncio.wait(
                waits, timeout=timeout + EXPIRY_GRACE_S, return_when="FIRST_COMPLETED"
            )
            if fill is not None and not woken.done() and self._got:
                await asyncio.wait({woken}, timeout=fill)
        finally:
            self._woken = self._first = None
            self._current = ""


def _wake(future: asyncio.Future[None] | None) -> None:
    if future is not None and not future.done():
        future.set_result(None)


def _status(msg: Any) -> str | None:
    """The status code of a message without body from the server, else None."""
    if msg.data:
        return None
    headers = msg.headers
    if not headers:
        return None
    status = headers.get("Status")
    return str(status) if status is not None else None
