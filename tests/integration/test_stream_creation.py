"""One way to create the usage stream, shared by the node agent and the bridge: a stream
created by another process between the look and the create is used as it is."""

from __future__ import annotations

import asyncio
from typing import Any

import nats
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from node_agent import publisher
from runtime import bridge
from tests.support.nats_helpers import NATS_URL, TestStream
from tests.support.node_stack import stream  # noqa: F401 - a fixture
from wire import nats as wire_nats
from wire.nats import ensure_stream


class RivalFirst:
    """A JetStream context whose first look finds no stream, and a rival process creates
    it (with another configuration) right after that look: the race both callers meet."""

    def __init__(self, js: JetStreamContext, *, stream: str, prefix: str) -> None:
        self._js, self._stream, self._prefix = js, stream, prefix
        self.looks = 0

    async def stream_info(self, name: str) -> Any:
        self.looks += 1
        if self.looks == 1:
            await self._js.add_stream(
                name=self._stream, subjects=[f"{self._prefix}.>"], max_msgs=1000
            )
            raise NotFoundError
        return await self._js.stream_info(name)

    async def add_stream(self, **config: Any) -> Any:
        return await self._js.add_stream(**config)


def _run(check: Any) -> Any:
    async def go() -> Any:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            return await check(nc.jetstream(timeout=5))
        finally:
            await nc.close()

    return asyncio.run(go())


def test_a_stream_created_by_a_rival_between_look_and_create_is_used_as_it_is(
    stream: TestStream,
) -> None:
    async def check(js: JetStreamContext) -> tuple[bool, int, int]:
        rival = RivalFirst(js, stream=stream.name, prefix=stream.prefix)
        created = await ensure_stream(rival, stream=stream.name, prefix=stream.prefix)  # type: ignore[arg-type]
        info = await js.stream_info(stream.name)
        return created, rival.looks, int(info.config.max_msgs or 0)

    created, looks, max_msgs = _run(check)
    assert (created, looks, max_msgs) == (False, 2, 1000)  # the rival's stream, untouched


def test_a_missing_stream_is_created_on_the_prefix_and_a_present_one_left_alone(
    stream: TestStream,
) -> None:
    async def check(js: JetStreamContext) -> tuple[list[bool], list[str]]:
        first = await ensure_stream(js, stream=stream.name, prefix=stream.prefix)
        again = await asyncio.gather(
            *(ensure_stream(js, stream=stream.name, prefix=stream.prefix) for _ in range(3))
        )
        info = await js.stream_info(stream.name)
        return [first, *again], list(info.config.subjects or [])

    created, subjects = _run(check)
    assert created == [True, False, False, False]
    assert subjects == [f"{stream.prefix}.>"]


def test_the_node_agent_and_the_bridge_create_the_stream_through_the_one_function() -> None:
    assert publisher.ensure_stream is wire_nats.ensure_stream  # type: ignore[attr-defined]
    assert bridge.ensure_stream is wire_nats.ensure_stream  # type: ignore[attr-defined]
