"""The chaos run, short: a few thousand records and a few faults through the production
shape as real processes; every balance, and every credit state the hosts are given, must
equal the independent oracle's.

``CHAOS_SEED`` replays a run; the seed is printed either way.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from tests.chaos.plan import SHORT
from tests.chaos.run import run
from tests.conftest import need
from tests.support.services import amqp_reachable, nats_reachable, pg_reachable

LAST_LINE = re.compile(
    r"chaos: seed \d+, \d+ faults, \d+ records, \d+ payments: 0 lost, 0 doubled, "
    r"0 credit states wrong, audit ok"
)


def test_short_chaos_run_loses_nothing_and_doubles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need("PostgreSQL", pg_reachable())
    need("RabbitMQ", amqp_reachable())
    need("NATS", nats_reachable())
    seed = int(os.environ.get("CHAOS_SEED") or secrets.randbelow(10**9))
    code = run(seed, SHORT, tmp_path / "chaos")
    out = capsys.readouterr().out
    last = out.strip().splitlines()[-1]
    assert code == 0, out
    assert LAST_LINE.fullmatch(last), out
    assert f"seed {seed}," in last
    assert f"{SHORT.records} records, {SHORT.payments} payments" in last
