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
from wire.nats import MSG_ID_HEADER, SIGNATURE_HEADER
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
    assert failed == 1 and "node-a:40" in left
    assert acked + len(left) == 160
    # the rest of the window was still awaited: only rows never sent are left beside it
    assert set(left) - {"node-a:40"} == {f"node-a:{n}" for n in range(1, 161)} - set(js.sent)
    assert all(k not in left for k in js.sent if k != "node-a:40")
    # the next pass sends what is left, and nothing else
    js2 = FakeJetStream()
    assert asyncio.run(_publisher(journal).publish_pending(js2)) == (len(left), 0)  # type: ignore[arg-type]
    assert sorted(js2.sent) == sorted(left) and _unpublished(journal) == []


def test_a_refused_record_in_the_last_window_is_the_only_one_left_and_is_retried(
    journal: Journal,
) -> None:
    js = FakeJetStream(fail={"node-a:150"})

    acked, failed = asyncio.run(_publisher(journal).publish_pending(js))  # type: ignore[arg-type]

    assert (acked, failed) == (159, 1) and _unpublished(journal) == ["node-a:150"]
    js2 = FakeJetStream()
    assert asyncio.run(_publisher(journal).publish_pending(js2)) == (1, 0)  # type: ignore[arg-type]
    assert js2.sent == ["node-a:150"] and _unpublished(journal) == []


def test_an_ack_that_never_comes_ends_the_pass_at_its_deadline(
    journal: Journal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pub, "ACK_TIMEOUT_S", 0.2)
    js = FakeJetStream(silent={"node-a:5"})

    acked, failed = asyncio.run(
        asyncio.wait_for(_publisher(journal).publish_pending(js), timeout=5)  # type: ignore[arg-type]
    )

    left = _unpublished(journal)
    assert failed == 1 and "node-a:5" in left and acked == 160 - len(left)
    assert js.pending == set()  # the late future was cancelled, its slot freed


def test_once_stopped_no_more_rows_are_read(journal: Journal) -> None:
    stop = asyncio.Event()
    stop.set()

    acked, failed = asyncio.run(_publisher(journal).publish_pending(FakeJetStream(), stop=stop))  # type: ignore[arg-type]

    assert (acked, failed) == (0, 0) and len(_unpublished(journal)) == 160


def test_the_signature_stored_at_append_is_sent_and_a_row_without_one_is_signed(
    tmp_path: Path,
) -> None:
    key = nacl.signing.SigningKey.generate()
    with Journal(tmp_path / "signed.db", node="node-a", key=key) as signed:
        signed.append(_draft(), now=NOW)
        (row,) = signed.unpublished(limit=-1)
    with Journal(tmp_path / "plain.db", node="node-a") as plain:
        plain.append(_draft(), now=NOW)
        (bare,) = plain.unpublished(limit=-1)

    assert row.signature is not None
    assert pub.headers_for(row, key)[SIGNATURE_HEADER] == row.signature
    key.verify_key.verify(row.body, bytes.fromhex(row.signature))
    assert bare.signature is None
    key.verify_key.verify(bare.body, bytes.fromhex(pub.headers_for(bare, key)[SIGNATURE_HEADER]))


def test_a_new_key_drops_the_stored_signatures_of_unpublished_rows(tmp_path: Path) -> None:
    old, new = nacl.signing.SigningKey.generate(), nacl.signing.SigningKey.generate()
    path = tmp_path / "node-a.db"
    with Journal(path, node="node-a", key=old) as journal:
        journal.append(_draft(), now=NOW)
        journal.append(_draft(), now=NOW)
        journal.mark_published([1], now=NOW)
    with Journal(path, node="node-a", key=new) as journal:
        (row,) = journal.unpublished(limit=-1)
        journal.append(_draft(), now=NOW)
        rows = journal.unpublished(limit=-1)

    assert row.signature is None  # signed again, with the new key, when sent
    new.verify_key.verify(row.body, bytes.fromhex(pub.headers_for(row, new)[SIGNATURE_HEADER]))
    assert rows[-1].signature is not None
    new.verify_key.verify(rows[-1].body, bytes.fromhex(rows[-1].signature))


def _draft() -> UsageIn:
    return UsageIn(
        key="node-a:0",
        node="node-a",
        user=USER,
        resource_kind="llm_token",
        applies_to="llm",
        quantity=1,
        amount_cents=3,
        occurred_at=NOW,
    )
