"""The bridge's batches from a real JetStream pull consumer: in stream order, a short batch
when the request expires, an idle stream as a timeout, late messages kept for the next
fetch."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import nats
import nats.errors
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from runtime.pull import PullBatches
from tests.support.nats_helpers import NATS_URL, TestStream
from tests.support.node_stack import stream  # noqa: F401 - a fixture

DURABLE = "pull-test"


def run(stream: TestStream, body: Callable[[Any, Any, PullBatches], Awaitable[None]]) -> None:
    async def go() -> None:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            await js.add_stream(name=stream.name, subjects=[f"{stream.prefix}.>"])
            await js.pull_subscribe(
                f"{stream.prefix}.>",
                durable=DURABLE,
                stream=stream.name,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
            )
            batches = await PullBatches(nc, stream=stream.name, durable=DURABLE).start()
            await body(nc, js, batches)
        finally:
            await nc.close()

    asyncio.run(asyncio.wait_for(go(), timeout=30))


async def publish(js: Any, stream: TestStream, first: int, last: int) -> None:
    for i in range(first, last + 1):
        await js.publish(f"{stream.prefix}.node-a", str(i).encode())


def bodies(msgs: list[Any]) -> list[int]:
    return [int(m.data) for m in msgs]


def test_batches_come_in_stream_order_and_a_short_one_when_the_request_expires(
    stream: TestStream,
) -> None:
    async def body(nc: Any, js: Any, batches: PullBatches) -> None:
        await publish(js, stream, 1, 25)

        first = await batches.fetch(10, timeout=2.0)
        second = await batches.fetch(10, timeout=2.0)
        began = time.monotonic()
        third = await batches.fetch(10, timeout=0.3)
        waited = time.monotonic() - began

        assert bodies(first + second + third) == list(range(1, 26))
        assert 0.2 <= waited < 1.0  # ended by the server's 408 at expiry, not a full batch
        for msg in first + second + third:
            await msg.ack()
        with pytest.raises(nats.errors.TimeoutError):
            await batches.fetch(10, timeout=0.2)  # idle

    run(stream, body)


def test_a_message_that_comes_after_its_fetch_gave_up_is_kept_for_the_next(
    stream: TestStream,
) -> None:
    async def body(nc: Any, js: Any, batches: PullBatches) -> None:
        # Given a fetch that gives up (cancelled, as the loop does at stop) before any came
        waiting = asyncio.ensure_future(batches.fetch(5, timeout=1.0))
        await asyncio.sleep(0.05)
        waiting.cancel()
        # When messages come for its request, still open on the server
        await publish(js, stream, 1, 3)
        await asyncio.sleep(0.2)

        # Then the next fetch hands them over, in order
        assert bodies(await batches.fetch(5, timeout=0.3)) == [1, 2, 3]

    run(stream, body)
