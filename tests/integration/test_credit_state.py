"""Credit state at the hosts, end to end on PostgreSQL, RabbitMQ and NATS: usage through a
node agent, the bridge and a worker takes an account under the floor, and the agent's
``GET /credit/{address}`` says so; a top-up brings it back; a worker killed between the
commit and the publish loses nothing; an agent cut from NATS answers its last state with
its age, then ``unknown``."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import nats

from models.credit import CreditState
from tests.support.credit_stack import (
    ADDRESS,
    TOKEN,
    Credit,
    reopen,
    seed_account,
    start_agent,
    start_bridge,
    use,
)
from tests.support.nats_helpers import NATS_URL
from tests.support.procs import BIN, hero_admin, wait_until
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy
from wire.address import parse_address


def test_usage_under_the_floor_makes_the_agent_answer_exhausted_and_a_top_up_ok(
    pg_stack: Stack, credit: Credit, tmp_path: Path
) -> None:
    # Given an account with $3, a worker with its publisher, the bridge and a node agent
    seed_account(300)
    pg_stack.worker(**credit.env)
    start_bridge(pg_stack, credit)
    start_agent(pg_stack, credit, tmp_path)
    # When a host reports 100 cents of usage, then 250 more
    use(credit, 100)
    wait_until(lambda: credit.state_is("low"), timeout=30, what="low at the agent")
    use(credit, 250)
    # Then the agent answers exhausted, with the balance under the floor
    wait_until(lambda: credit.state_is("exhausted"), timeout=30, what="exhausted")
    answer = credit.answer()
    assert answer["balance_cents"] == -50 and answer["floor_cents"] == 0
    assert answer["age_s"] < 2 and answer["seq"] >= 2
    # and the CLI says the same from the agent's memory
    shown = subprocess.run(
        [str(BIN / "hero-node"), "credit", ADDRESS, "--json"],
        env={
            **pg_stack.env,
            "HERO_NODE_NAME": "node-a",
            "HERO_NODE_INTAKE_ADDR": credit.agent_url[7:],
            "HERO_NODE_INTAKE_TOKEN": TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert shown.returncode == 0, shown.stderr
    assert {k: json.loads(shown.stdout)[k] for k in ("state", "balance_cents")} == {
        "state": "exhausted",
        "balance_cents": -50,
    }
    assert "age_s" in json.loads(shown.stdout)
    # When an operator credits $10
    done = hero_admin(
        "balance", "adjust", ADDRESS, "--by", "1000", "--reason", "top-up", env=pg_stack.admin_env()
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Then the agent answers ok again
    wait_until(lambda: credit.state_is("ok"), timeout=30, what="ok after the top-up")
    assert credit.answer()["balance_cents"] == 950


def test_a_worker_killed_between_commit_and_publish_publishes_after_restart(
    pg_stack: Stack, credit: Credit, tmp_path: Path
) -> None:
    # Given a worker whose NATS goes through a proxy, and an agent that knows the account
    seed_account(100)
    proxy = TcpProxy(("127.0.0.1", 4222)).up()
    cut_env = {**credit.env, "HERO_NATS_URL": f"nats://127.0.0.1:{proxy.port}"}
    worker = pg_stack.worker("worker-1", **cut_env)
    start_bridge(pg_stack, credit)
    start_agent(pg_stack, credit, tmp_path)
    use(credit, 10)
    wait_until(lambda: credit.state_is("low"), timeout=30, what="low at the agent")
    # When the worker's NATS is cut, usage under the floor is committed
    proxy.down()
    use(credit, 200)
    row = wait_until(
        lambda: CreditState.get_or_none(CreditState.state == "exhausted"),
        timeout=30,
        what="exhausted committed",
    )
    assert row.pending and row.published_seq < row.seq
    assert credit.state_is("low")
    # and the worker is killed before it could publish
    worker.kill()
    # Then a restarted worker (NATS reachable again) publishes it
    pg_stack.worker("worker-2", **credit.env)
    wait_until(lambda: credit.state_is("exhausted"), timeout=30, what="exhausted after restart")
    wait_until(lambda: not CreditState.get().pending, timeout=10, what="marked published")


def test_an_agent_cut_from_nats_answers_its_last_state_with_its_age_then_unknown(
    pg_stack: Stack, credit: Credit, tmp_path: Path
) -> None:
    # Given an agent whose NATS goes through a proxy, that knows an exhausted account
    seed_account(100)
    pg_stack.worker(**credit.env)
    start_bridge(pg_stack, credit)
    proxy = TcpProxy(("127.0.0.1", 4222)).up()
    start_agent(
        pg_stack,
        credit,
        tmp_path,
        nats_url=f"nats://127.0.0.1:{proxy.port}",
        HERO_NODE_CREDIT_STALE_S="3",
    )
    # (the agent publishes usage through the same proxy, so report it before the cut)
    use(credit, 150)
    wait_until(lambda: credit.state_is("exhausted"), timeout=30, what="exhausted")
    # When NATS is cut
    proxy.down()
    # Then the agent keeps answering the last state, with a growing age
    first = credit.answer()
    assert first["state"] == "exhausted" and first["balance_cents"] == -50
    aged = wait_until(
        lambda: (a := credit.answer())["age_s"] >= 1.5 and a, timeout=10, what="an age"
    )
    assert aged["state"] == "exhausted" and aged["stale"] is False
    # and after the stale limit it answers unknown, naming the last state
    late = wait_until(
        lambda: (a := credit.answer())["state"] == "unknown" and a, timeout=10, what="unknown"
    )
    assert late["last_state"] == "exhausted" and late["age_s"] > 3
    # When NATS is back, the answer is current again
    wait_until(lambda: reopen(proxy), timeout=10, what="the proxy's port again")
    wait_until(lambda: credit.state_is("exhausted"), timeout=30, what="current again")
    assert credit.answer()["age_s"] < 2
    proxy.down()


def test_republish_fills_a_new_bucket_with_every_account_state(
    pg_stack: Stack, credit: Credit
) -> None:
    # Given an exhausted account whose state was never published
    seed_account(-20)
    # When an operator republishes into a new bucket
    done = subprocess.run(
        [str(BIN / "hero-onboarding"), "credit-republish"],
        env={**pg_stack.env, **credit.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Then the bucket holds the account's state, and nothing is left pending
    key = "acct." + parse_address(ADDRESS).packed.hex()

    async def read() -> dict:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        try:
            entry = await (await nc.jetstream(timeout=5).key_value(credit.bucket)).get(key)
            assert entry.value is not None
            return json.loads(entry.value)
        finally:
            await nc.close()

    stored = asyncio.run(read())
    assert (stored["state"], stored["balance_cents"], stored["address"]) == (
        "exhausted",
        -20,
        ADDRESS,
    )
    assert not CreditState.get().pending
