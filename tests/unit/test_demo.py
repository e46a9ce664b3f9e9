"""The demo node agent reports usage for logged-in users through journal, git and aggregator."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

import cli.demo as demo
from actors.aggregator import ForgeAccess, configure
from models import Account, Billing, Session, UsageRecord, utcnow

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def test_synthetic_usage_covers_every_category() -> None:
    rounds = demo.synthetic_usage(random.Random(1))
    assert {u.applies_to for u in rounds} == {"hero_os_hourly", "llm", "vm"}
    assert all(u.amount_cents > 0 for u in rounds)


def test_a_demo_round_charges_the_logged_in_user(sqlite_db: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    account = Account.create(address=USER)
    Billing.create(account=account)
    Session.create(token_hash="t" * 64, address=USER, csrf_token="c",
                   expires_at=utcnow() + dt.timedelta(hours=1))
    configure(ForgeAccess(mirror_dir=str(tmp_path / "mirrors")))
    monkeypatch.setattr(demo, "ROUND_S", 0.01)
    stop = demo.threading.Event()
    thread = demo.threading.Thread(target=demo.run_demo, args=(str(tmp_path / "demo"), stop),
                                   kwargs={"seed": 7})
    thread.start()
    try:
        deadline = dt.datetime.now() + dt.timedelta(seconds=20)
        while UsageRecord.select().count() < 3 and dt.datetime.now() < deadline:
            stop.wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert UsageRecord.select().count() >= 3
    assert {r.via for r in UsageRecord.select()} == {"git"}
    assert Billing.get().balance_cents < 0
