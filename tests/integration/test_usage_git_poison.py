"""Poison on the git path, on PostgreSQL + RabbitMQ with a real worker and a real git
smart-HTTP Forge, driven through the real ``hero-admin``.

A poison record beside good ones, a node whose server never answers, and a location that
would run a command must each be alerted and skipped: the good records of every other
node are charged, once, and nothing lands silently in the dead-letter queue.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import actors
import messages
from models import Account, Alert, Billing, Node, UsageRecord
from tests.support.aggregator import USER, rec, silent_server  # noqa: F401 - fixture
from tests.support.bridge_stack import dead_letters
from tests.support.git_http import git_http_server
from tests.support.node_repo import NodeRepo
from tests.support.procs import hero_admin, wait_until
from tests.support.stack import Stack
from wire.otoml import dumps

HOUR = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)


def poison_line(node: str, seq: int) -> bytes:
    at = (HOUR + dt.timedelta(minutes=seq)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'\n[[records]]\nkey = "{node}:{seq}"\nuser = "{USER}"\nresource_kind = "vm_hour"\n'
        f'applies_to = "vm"\nquantity = 1\namount_cents = {10**19 - 1}\noccurred_at = "{at}"\n'
    ).encode()


def test_git_poison_is_quarantined_with_alerts_and_every_other_node_is_charged(
    pg_stack: Stack,
    tmp_path: Path,
    silent_server: str,  # noqa: F811
) -> None:
    stack = pg_stack
    Billing.create(account=Account.create(address=USER))
    env = {
        **stack.admin_env(),
        "HERO_FORGE_USER": "forge",
        "HERO_FORGE_TOKEN": "s3cret",
        "HERO_MIRROR_DIR": str(tmp_path / "mirrors"),
        "HERO_FORGE_TIMEOUT_S": "1",
    }
    env.pop("HERO_NATS_URL", None)
    stack.worker()
    marker = tmp_path / "pwned"

    with git_http_server(tmp_path / "forge") as forge:
        repos = {}
        for name in ("node-a", "node-b"):
            url = forge.create_repo(name)
            repos[name] = NodeRepo(
                tmp_path / name, url.replace("http://", "http://forge:s3cret@"), name
            )
            added = hero_admin(
                "node", "add", name, "--repo", url, "--pubkey", repos[name].pubkey, env=env
            )
            assert added.returncode == 0, added.stdout + added.stderr
        silent = hero_admin(
            "node", "add", "node-c", "--repo", silent_server, "--pubkey", "11" * 32, env=env
        )
        assert silent.returncode == 0, silent.stdout + silent.stderr
        # a location that would run a command is refused where it is given
        evil = hero_admin(
            "node", "add", "node-d", "--repo", f"ext::sh -c touch% {marker}",
            "--pubkey", "11" * 32, env=env,
        )  # fmt: skip
        assert evil.returncode == 2
        assert "--repo: " in evil.stderr and "transport helper" in evil.stderr

        repos["node-a"].write_batch(HOUR, [rec("node-a", i, 5, HOUR) for i in (1, 2, 3)])
        poisoned = dumps("node-b", HOUR, [rec("node-b", 1, 7, HOUR)]) + poison_line("node-b", 2)
        repos["node-b"].write_batch(HOUR, [], data=poisoned)
        for repo in repos.values():
            repo.commit()
            repo.push()

        started = time.monotonic()
        pulled = hero_admin("aggregate", env=env, timeout=60)
        took = time.monotonic() - started

    # The silent node is skipped after its timeout and makes the command fail; the others go on
    assert pulled.returncode == 1, pulled.stdout + pulled.stderr
    assert took < 30
    assert "node-a: 1 commits, 1 files, 3 records handed over" in pulled.stdout
    assert "node-b: 1 commits, 1 files, 1 records handed over, 0 quarantined, 1 rejected" in (
        pulled.stdout
    )
    assert "node-c: could not fetch" in pulled.stdout

    # And a batch that slipped past the aggregator is re-checked by the worker
    actors.build_broker(stack.env["HERO_AMQP_URL"])
    slipped = {**rec("node-e", 2, 0, HOUR).to_json(), "amount_cents": 10**19}
    actors.send(
        messages.ApplyUsageBatch(records=[rec("node-e", 1, 11, HOUR).to_json(), slipped], via="git")
    )

    wait_until(lambda: UsageRecord.select().count() == 5, timeout=60, what="5 records")
    wait_until(lambda: Billing.get().balance_cents == -(15 + 7 + 11), what="the charges")
    assert sorted(r.key for r in UsageRecord.select()) == [
        "node-a:1", "node-a:2", "node-a:3", "node-b:1", "node-e:1"]  # fmt: skip
    wait_until(lambda: Alert.select().where(Alert.kind == "usage_rejected").exists(),
               what="the worker's quarantine alert")  # fmt: skip

    listed = hero_admin("alerts", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    by_kind = {a["kind"]: a for a in json.loads(listed.stdout)}
    assert set(by_kind) == {"records_rejected", "forge_unavailable", "usage_rejected"}
    assert by_kind["records_rejected"]["subject"] == "node-b"
    assert "node-b:2" in json.dumps(by_kind["records_rejected"]["details"])
    assert by_kind["forge_unavailable"]["subject"] == "node-c"
    assert "timed out" in by_kind["forge_unavailable"]["message"]
    assert "node-e:2" in by_kind["usage_rejected"]["message"]
    assert dead_letters(stack.env["HERO_AMQP_URL"]) == 0
    assert not marker.exists()
    assert [n.name for n in Node.select().order_by(Node.name)] == ["node-a", "node-b", "node-c"]

    # reconcile says the NATS path is off rather than flagging every git record
    off = hero_admin("reconcile", env=env)
    assert off.returncode == 0 and "NATS path is off" in off.stdout
    negative = hero_admin("reconcile", "--grace-minutes", "-5", env=env)
    assert negative.returncode == 2
    assert "--grace-minutes: must be 0 to" in negative.stderr
