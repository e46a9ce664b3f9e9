"""The node agent's publisher window: many PubAcks in flight, rows marked published only
once acknowledged, a failed or late ack leaving its row (and only the unacknowledged ones)
for the next pass."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
from nats.js.api import PubAck
from nats.js.errors import APIError

from node_agent import publisher as pub
from node_agent.journal import Journal
from wire.nats import MSG_ID_HEADER
from wire.otoml import UsageIn

NOW = dt.datetime(2026, 11, 21, 14, 30, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


class FakeJetStream:
    """``publish_async`` as nats-py has it: a future per message, resolved when the
    stream answers; *fail* keys get an API error, *silent* keys no answer at all."""

    def __init__(
        self, *, fail: AbstractSet[str] = frozenset(), silent: AbstractSet[str] = frozenset()
    ) -> None:
        self.fail, self.silent = set(fail), set(silent)
        self.sent: list[str] = []
        self.pending: set[asyncio.Future[PubAck]] = set()
        self.max_pending = 0

    async def publish_async(
        self, subject: str, payload: bytes = b"", headers: dict[str, str] | None = None, **_: Any
    ) -> asyncio.Future[PubAck]:
        assert headers is not None
        key = headers[MSG_ID_HEADER]
        self.sent.append(key)
        future: asyncio.Future[PubAck] = asyncio.get_running_loop().create_future()
        self.pending.add(future)
        future.add_done_callback(self.pending.discard)
        self.max_pending = max(self.max_pending, len(self.pending))
        if key not in self.silent:
            asyncio.get_running_loop().call_later(0.001, self._answer, future, key)
        return future

    def _answer(self, future: asyncio.Future[PubAck], key: str) -> None:
        if future.done():
            return
        if key in self.fail:
            future.set_exception(APIError(code=503, description="stream offline"))
        else:
            future.set_result(PubAck(stream="S", seq=len(self.sent)))


def _publisher(journal: Journal) -> pub.Publisher:
    return pub.Publisher(
        journal,
        key=nacl.signing.SigningKey.generate(),
        nats_url="nats://unused",
        stream="S",
        subject_prefix="p",
        clock=lambda: NOW,
    )


@pytest.fixture
def journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Journal:
    monkeypatch.setattr(pub, "BATCH", 16)
    monkeypatch.setattr(pub, "WINDOW", 64)
    j = Journal(tmp_path / "node-a.db", node="node-a")
    for i in range(160):
        j.append(
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
    return j


def _unpublished(journal: Journal) -> list[str]:
    return [r.key for r in journal.unpublished(limit=-1)]


def test_every_record_published_once_with_a_window_of_acks_in_flight(journal: Journal) -> None:
    js = FakeJetStream()

    acked, failed = asyncio.run(_publisher(journal).publish_pending(js))  # type: ignore[arg-type]

    assert (acked, failed) == (160, 0)
    assert sorted(js.sent) == sorted(set(js.sent)) and len(js.sent) == 160
    assert _unpublished(journal) == []
    assert pub.BATCH < js.max_pending <= pub.WINDOW  # pipelined, and bounded


def test_a_refused_record_stays_unpublished_and_the_acknowledged_ones_are_marked(
    journal: Journal,
) -> None:
    js = FakeJetStream(fail={"node-a:40"})

    acked, failed = asyncio.run(_publisher(journal).publish_pending(js))  # type: ignore[arg-type]

    left = _unpublished(journal)
    assert "node-a:40" in left and failed >= 1
    assert acked + len(left) == 160
    assert set(js.sent) - set(left) == {f"node-a:{n}" for n in range(1, 161)} - set(left)
    # the next pass sends what is left, and nothing else
    js2 = FakeJetStream()
    assert asyncio.run(_publisher(journal).publish_pending(js2)) == (len(left), 0)  # type: ignore[arg-type]
    assert sorted(js2.sent) == sorted(left) and _unpublished(journal) == []


def test_an_ack_that_never_comes_ends_the_pass_at_its_deadline(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pub, "ACK_TIMEOUT_S", 0.2)
    js = FakeJetStream(silent={"node-a:5"})

    acked, failed = asyncio.run(
        asyncio.wait_for(_publisher(journal).publish_pending(js), timeout=5)  # type: ignore[arg-type]
    )

    left = _unpublished(journal)
    assert failed >= 1 and "node-a:5" in left and acked == 160 - len(left)
    assert js.pending == set()  # the late future was cancelled, its slot freed


def test_once_stopped_no_more_rows_are_read(journal: Journal) -> None:
    stop = asyncio.Event()
    stop.set()

    acked, failed = asyncio.run(_publisher(journal).publish_pending(FakeJetStream(), stop=stop))  # type: ignore[arg-type]

    assert (acked, failed) == (0, 0) and len(_unpublished(journal)) == 160
