"""How ``PullBatches`` reads the server's answers to its pull requests (no NATS here):
what ends a fetch, what does not, and that nothing that came is lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats.errors
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.pull import PullBatches, PullFailed


@dataclass
class Msg:
    subject: str
    data: bytes = b""
    headers: dict[str, str] | None = None


class FakeNats:
    """Records the pull requests; the test answers them through ``deliver``."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, str]] = []
        self.cb: Callable[[Any], Awaitable[None]] | None = None

    def new_inbox(self) -> str:
        return "_INBOX.t"

    async def subscribe(self, subject: str, cb: Callable[[Any], Awaitable[None]]) -> None:
        assert subject == "_INBOX.t.*"
        self.cb = cb

    async def publish(self, subject: str, payload: bytes, reply: str) -> None:
        self.requests.append((subject, payload, reply))

    async def deliver(self, msg: Msg) -> None:
        assert self.cb is not None
        await self.cb(msg)


def status(reply: str, code: str) -> Msg:
    return Msg(reply, b"", {"Status": code, "Description": "test"})


async def give_up(fetching: asyncio.Future[Any]) -> None:
    """Cancel a fetch, as the loop does at stop, and let the cancellation land."""
    fetching.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await fetching


def run(body: Callable[[FakeNats, PullBatches], Awaitable[None]]) -> None:
    async def go() -> None:
        nc = FakeNats()
        batches = await PullBatches(nc, stream="S", durable="d").start()
        await body(nc, batches)

    asyncio.run(asyncio.wait_for(go(), timeout=10))


def test_a_full_batch_wakes_the_fetch_and_the_request_names_the_consumer() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        ((subject, payload, reply),) = nc.requests
        assert subject == "$JS.API.CONSUMER.MSG.NEXT.S.d"
        assert payload == b'{"batch": 2, "expires": 5000000000}'
        await nc.deliver(Msg(reply, b"1"))
        await nc.deliver(Msg(reply, b"2"))

        assert [m.data for m in await fetching] == [b"1", b"2"]

    run(body)


def test_a_late_end_of_an_earlier_request_does_not_end_the_next_fetch() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        first = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        await give_up(first)
        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        (_, _, old), (_, _, new) = nc.requests
        assert old != new

        await nc.deliver(status(old, "408"))  # the first request expires on the server
        await nc.deliver(Msg(new, heartbeat := b""))  # no status header: not an end
        await nc.deliver(status(new, "100"))  # an idle heartbeat: not an end either
        await asyncio.sleep(0.01)
        assert not fetching.done()
        await nc.deliver(Msg(new, b"1"))
        await nc.deliver(status(new, "408"))

        assert [m.data for m in await fetching] == [heartbeat, b"1"]

    run(body)


def test_messages_of_a_request_given_up_are_handed_to_the_next_fetch_first() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        first = asyncio.ensure_future(batches.fetch(3, timeout=5.0))
        await asyncio.sleep(0)
        await give_up(first)
        (_, _, old) = nc.requests[0]
        for i in (1, 2, 3):
            await nc.deliver(Msg(old, str(i).encode()))

        # a full batch is there already: no new request
        assert [m.data for m in await batches.fetch(2, timeout=5.0)] == [b"1", b"2"]
        assert len(nc.requests) == 1
        # one left: the next fetch asks only for what is missing
        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        assert nc.requests[1][1] == b'{"batch": 1, "expires": 5000000000}'
        await nc.deliver(Msg(nc.requests[1][2], b"4"))
        assert [m.data for m in await fetching] == [b"3", b"4"]

    run(body)


def test_an_idle_stream_is_a_timeout_and_an_error_status_is_a_failure() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        await nc.deliver(status(nc.requests[-1][2], "404"))
        with pytest.raises(nats.errors.TimeoutError):
            await fetching

        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0))
        await asyncio.sleep(0)
        await nc.deliver(status(nc.requests[-1][2], "409"))
        with pytest.raises(PullFailed, match="409"):
            await fetching

    run(body)


def test_no_answer_at_all_ends_the_fetch_after_its_timeout() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        with pytest.raises(nats.errors.TimeoutError):
            await batches.fetch(2, timeout=0.05)  # a reconnect lost the request

    run(body)


def test_with_a_fill_a_fetch_returns_that_long_after_its_first_message_full_or_not() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        loop = asyncio.get_running_loop()
        fetching = asyncio.ensure_future(batches.fetch(1000, timeout=5.0, fill=0.1))
        await asyncio.sleep(0.2)
        assert not fetching.done()  # nothing came yet: the fill has not begun
        began = loop.time()
        for i in range(3):
            await nc.deliver(Msg(nc.requests[-1][2], str(i).encode()))
            await asyncio.sleep(0.02)

        got = await fetching
        assert [m.data for m in got] == [b"0", b"1", b"2"]
        assert 0.09 <= loop.time() - began <= 1.0  # the fill, not the request's 5 s

    run(body)


def test_with_a_fill_a_full_batch_or_kept_messages_need_no_wait_for_more() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        loop = asyncio.get_running_loop()
        fetching = asyncio.ensure_future(batches.fetch(2, timeout=5.0, fill=5.0))
        await asyncio.sleep(0)
        began = loop.time()
        for data in (b"1", b"2", b"3"):
            await nc.deliver(Msg(nc.requests[-1][2], data))
        assert [m.data for m in await fetching] == [b"1", b"2"]  # full: at once
        assert loop.time() - began < 1.0

        # the one kept from before counts as come: the fill starts at once
        began = loop.time()
        assert [m.data for m in await batches.fetch(5, timeout=5.0, fill=0.05)] == [b"3"]
        assert loop.time() - began < 1.0

    run(body)


def test_with_a_fill_an_idle_stream_still_times_out() -> None:
    async def body(nc: FakeNats, batches: PullBatches) -> None:
        fetching = asyncio.ensure_future(batches.fetch(10, timeout=5.0, fill=0.05))
        await asyncio.sleep(0)
        await nc.deliver(status(nc.requests[-1][2], "408"))
        with pytest.raises(nats.errors.TimeoutError):
            await fetching

    run(body)


#: What the server may send to a fetch: a message, or a status for the request being
#: waited for or for one given up before it.
EVENTS = st.lists(
    st.one_of(
        st.just(("msg", "")),
        st.tuples(st.just("status"), st.sampled_from(["404", "408", "409", "100"])),
        st.tuples(st.just("old status"), st.sampled_from(["404", "408", "409"])),
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(rounds=st.lists(st.tuples(st.integers(1, 5), EVENTS, st.booleans()), max_size=6))
def test_every_message_that_came_is_handed_over_once_in_order(
    rounds: list[tuple[int, list[tuple[str, str]], bool]],
) -> None:
    sent: list[bytes] = []
    handed: list[bytes] = []

    async def body(nc: FakeNats, batches: PullBatches) -> None:
        old = "_INBOX.t.0"
        for batch, events, give_up_after in rounds:
            fetching = asyncio.ensure_future(batches.fetch(batch, timeout=5.0))
            await asyncio.sleep(0)
            current = nc.requests[-1][2] if nc.requests else old
            for kind, code in events:
                if kind == "msg":
                    sent.append(str(len(sent)).encode())
                    await nc.deliver(Msg(current, sent[-1]))
                else:
                    await nc.deliver(status(current if kind == "status" else old, code))
            if give_up_after:
                fetching.cancel()
            else:
                await nc.deliver(status(current, "408"))
            await take(fetching)
            old = current
        for _ in range(len(sent)):  # what is left in hand comes out next
            if len(handed) >= len(sent):
                break
            fetching = asyncio.ensure_future(batches.fetch(5, timeout=5.0))
            await asyncio.sleep(0)
            await nc.deliver(status(nc.requests[-1][2], "404"))
            await take(fetching)

    async def take(fetching: asyncio.Future[list[Any]]) -> None:
        with contextlib.suppress(asyncio.CancelledError, nats.errors.TimeoutError, PullFailed):
            handed.extend(m.data for m in await fetching)

    run(body)

    assert handed == sent
