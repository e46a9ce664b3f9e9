"""The node agent's publisher against the local NATS through a link cut mid-window: every
journal row ends up in the stream exactly once and marked published."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from node_agent import publisher as pub
from node_agent.journal import Journal
from tests.support.nats_helpers import TestStream, delete_stream, stream_messages
from tests.support.node_stack import NATS_PORT, USER
from tests.support.procs import wait_until
from tests.support.tcp_proxy import TcpProxy
from wire.otoml import UsageIn

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
#: Records journalled: several windows' worth, so the cut falls with acks in flight.
RECORDS = 3000
#: Seconds the link stays down.
DOWN_S = 1.0


@pytest.fixture
def stream() -> Iterator[TestStream]:
    s = TestStream.fresh()
    yield s
    delete_stream(s.name)


def _journal(path: Path, key: nacl.signing.SigningKey) -> Journal:
    journal = Journal(path, node="node-a", key=key)
    for i in range(RECORDS):
        journal.append(
            UsageIn(
                key="node-a:0",
                node="node-a",
                user=USER,
                resource_kind="llm_token",
                applies_to="llm",
                quantity=1,
                amount_cents=1 + i % 7,
                occurred_at=NOW.replace(minute=i % 60),
            ),
            now=NOW,
        )
    return journal


class CutAtFirstMark:
    """Wraps ``Journal.mark_published``: the first call (the first acks are in, the
    window is full of others) takes the link down, and brings it back ``DOWN_S`` later."""

    def __init__(self, journal: Journal, proxy: TcpProxy) -> None:
        self._mark = journal.mark_published
        self._proxy = proxy
        self.cut = threading.Event()

    def __call__(self, seqs: Any, *, now: dt.datetime) -> None:
        if not self.cut.is_set():
            self.cut.set()
            self._proxy.down()
            threading.Timer(DOWN_S, self._proxy.up).start()
        self._mark(seqs, now=now)


def test_a_link_cut_mid_window_loses_nothing_and_stores_each_record_once(
    tmp_path: Path, stream: TestStream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pub, "ACK_TIMEOUT_S", 1.0)
    monkeypatch.setattr(pub, "MAX_BACKOFF_S", 1.0)
    key = nacl.signing.SigningKey.generate()
    journal = _journal(tmp_path / "node-a.db", key)
    proxy = TcpProxy(("127.0.0.1", NATS_PORT)).up()
    cutter = CutAtFirstMark(journal, proxy)
    monkeypatch.setattr(journal, "mark_published", cutter)
    publisher = pub.Publisher(
        journal,
        key=key,
        nats_url=f"nats://127.0.0.1:{proxy.port}",
        stream=stream.name,
        subject_prefix=stream.prefix,
        clock=lambda: NOW,
    )
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    runner = threading.Thread(target=loop.run_until_complete, args=(publisher.run(stop),))
    runner.start()
    try:
        wait_until(
            lambda: journal.counts().published == RECORDS, timeout=60, what="every record published"
        )
    finally:
        loop.call_soon_threadsafe(stop.set)
        runner.join(timeout=15)
        proxy.down()
        loop.close()

    assert cutter.cut.is_set()
    messages = stream_messages(stream.name)
    keys = [m.headers["Nats-Msg-Id"] for m in messages]
    assert sorted(keys) == sorted(f"node-a:{n}" for n in range(1, RECORDS + 1))
    for m in messages[:50]:
        key.verify_key.verify(m.data, bytes.fromhex(m.headers["Hero-Signature"]))
    assert journal.unpublished(limit=-1) == []
    journal.close()
