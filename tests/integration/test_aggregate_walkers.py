"""``hero-admin aggregate`` walking nodes in several processes, on PostgreSQL + RabbitMQ with
a real worker: every record charged once, every cursor at its head, the reports in node
order, and a second aggregate finding nothing new."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

from models import Account, Billing, Node, UsageRecord
from tests.support.aggregator import USER, rec, silent_server  # noqa: F401 - fixture
from tests.support.node_repo import NodeRepo
from tests.support.procs import BIN, hero_admin, wait_until
from tests.support.stack import Stack

NODES = ("node-a", "node-b", "node-c", "node-d", "node-e")
HOURS = [
    (dt.datetime.now(dt.UTC) - dt.timedelta(hours=h)).replace(minute=0, second=0, microsecond=0)
    for h in (4, 3, 2)
]


def test_nodes_walked_in_several_processes_are_each_charged_once(
    pg_stack: Stack, tmp_path: Path
) -> None:
    stack = pg_stack
    Billing.create(account=Account.create(address=USER))
    env = {**stack.admin_env(), "HERO_MIRROR_DIR": str(tmp_path / "mirrors")}
    env.pop("HERO_NATS_URL", None)
    stack.worker()
    heads, cents, seq = {}, 0, 0
    for name in NODES:
        bare = tmp_path / "forge" / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        repo = NodeRepo(tmp_path / name, str(bare), name)
        for hour in HOURS:
            records = [rec(name, seq + i, cents=seq + i, hour=hour) for i in range(1, 4)]
            seq += 3
            cents += sum(r.amount_cents for r in records)
            repo.write_batch(hour, records)
            heads[name] = repo.commit()
        repo.push()
        added = hero_admin("node", "add", name, "--repo", str(bare), "--pubkey", repo.pubkey,
                           env=env)  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr

    pulled = hero_admin("aggregate", "--json", "--processes", "3", env=env, timeout=180)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    reports = json.loads(pulled.stdout)
    assert [r["node"] for r in reports] == list(NODES)  # node order, whichever finished first
    assert [(r["commits"], r["files"], r["records"]) for r in reports] == [(3, 3, 9)] * 5
    walkers = {
        json.loads(line)["pid"]
        for line in pulled.stderr.splitlines()
        if '"aggregator.walker_started"' in line
    }
    assert len(walkers) == 3, pulled.stderr[-2000:]

    wait_until(lambda: UsageRecord.select().count() == 45, timeout=60, what="45 records")
    wait_until(lambda: Billing.get().balance_cents == -cents, timeout=30, what="the charges")
    assert {n.name: n.cursor_commit for n in Node.select()} == heads

    again = hero_admin("aggregate", "--json", "--processes", "3", env=env, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert [r["commits"] for r in json.loads(again.stdout)] == [0] * 5
    assert Billing.get().balance_cents == -cents
    assert UsageRecord.select().count() == 45


def test_a_walker_count_out_of_range_is_refused_naming_the_option(
    pg_stack: Stack, tmp_path: Path
) -> None:
    for bad in ("0", "65", "two"):
        refused = hero_admin("aggregate", "--processes", bad, env=pg_stack.admin_env())
        assert refused.returncode == 2
        assert "--processes: " in refused.stderr and "Traceback" not in refused.stderr


def _running(pid: int) -> bool:
    """Whether *pid* is a live process (a zombie waiting to be reaped is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return "\nState:\tZ" not in status


def test_walkers_end_when_hero_admin_is_killed(
    pg_stack: Stack,
    tmp_path: Path,
    silent_server: str,  # noqa: F811
) -> None:
    import os
    import signal
    import time

    env = {
        **pg_stack.admin_env(),
        "HERO_MIRROR_DIR": str(tmp_path / "mirrors"),
        "HERO_FORGE_TIMEOUT_S": "120",  # each walker hangs on its silent node meanwhile
    }
    env.pop("HERO_NATS_URL", None)
    pg_stack.worker()
    for name in ("node-a", "node-b"):
        url = silent_server.replace("node-a", name)
        added = hero_admin("node", "add", name, "--repo", url, "--pubkey", "11" * 32, env=env)
        assert added.returncode == 0, added.stdout + added.stderr
    log = tmp_path / "aggregate.log"
    with open(log, "wb") as err:
        admin = subprocess.Popen(
            [str(BIN / "hero-admin"), "aggregate", "--json", "--processes", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        wait_until(
            lambda: log.read_text().count('"aggregator.walker_started"') == 2,
            timeout=60,
            what="two walkers started",
        )
        walkers = [
            json.loads(line)["pid"]
            for line in log.read_text().splitlines()
            if '"aggregator.walker_started"' in line
        ]
        time.sleep(0.5)  # both are inside their fetch now
        assert all(_running(pid) for pid in walkers)
        os.kill(admin.pid, signal.SIGKILL)
        admin.wait(timeout=10)
        wait_until(
            lambda: not any(_running(pid) for pid in walkers),
            timeout=10,
            what="the walkers ending with hero-admin",
        )
    finally:
        if admin.poll() is None:
            admin.kill()
    assert {n.name: n.cursor_commit for n in Node.select()} == {"node-a": None, "node-b": None}
