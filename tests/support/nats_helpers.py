"""JetStream helpers for tests and the bench: a stream of one test, read back whole, deleted
after; a key-value bucket deleted after."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import nats
from nats.js.errors import NotFoundError

#: The NATS server the integration tests use.
NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class TestStream:
    """A stream name and subject prefix no other test (or test run) uses."""

    __test__ = False  # not a test class, despite its name

    name: str
    prefix: str

    @classmethod
    def fresh(cls) -> TestStream:
        uid = uuid.uuid4().hex[:12]
        return cls(name=f"T{uid}", prefix=f"t{uid}.usage")


@dataclass(frozen=True)
class StoredMsg:
    """One message as JetStream stored it."""

    seq: int
    subject: str
    headers: dict[str, str]
    data: bytes


def stream_messages(stream: str, *, url: str = NATS_URL) -> list[StoredMsg]:
    """Every message in *stream*, in stream order; [] when the stream does not exist."""
    return asyncio.run(_stream_messages(stream, url))


def delete_stream(stream: str, *, url: str = NATS_URL) -> None:
    """Delete *stream* if it exists."""
    asyncio.run(_delete_stream(stream, url))


def delete_bucket(bucket: str, *, url: str = NATS_URL) -> None:
    """Delete the key-value *bucket* if it exists."""
    asyncio.run(_delete_bucket(bucket, url))


async def _stream_messages(stream: str, url: str) -> list[StoredMsg]:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        try:
            info = await js.stream_info(stream)
        except NotFoundError:
            return []
        state: Any = info.state
        if not state.messages:
            return []
        found: list[StoredMsg] = []
        for seq in range(state.first_seq, state.last_seq + 1):
            try:
                msg = await js.get_msg(stream, seq)
            except NotFoundError:
                continue
            found.append(
                StoredMsg(
                    seq=seq,
                    subject=msg.subject or "",
                    headers=dict(msg.headers or {}),
                    data=msg.data or b"",
                )
            )
        return found
    finally:
        await nc.close()


async def _delete_stream(stream: str, url: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)
    finally:
        await nc.close()


async def _delete_bucket(bucket: str, url: str) -> None:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        with contextlib.suppress(NotFoundError):  # a bucket never made is already gone
            await js.delete_key_value(bucket)
    finally:
        await nc.close()
