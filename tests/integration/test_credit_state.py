"""Credit state at the hosts, end to end on PostgreSQL, RabbitMQ and NATS: usage through a
node agent, the bridge and a worker takes an account under the floor, and the agent's
``GET /credit/{address}`` says so; a top-up brings it back; a worker killed between the
commit and the publish loses nothing; an agent cut from NATS answers its last state with
its age, then ``unknown``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import nats
import pytest
import requests

from models import Account, Billing, LedgerEntry, Node
from models.credit import CreditState
from tests.conftest import need
from tests.support.nats_helpers import NATS_URL, TestStream, delete_stream
from tests.support.procs import BIN, HeroProcess, hero_admin, wait_until
from tests.support.services import free_port, nats_reachable
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy
from wire.address import parse_address

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
TOKEN = "intake-token-of-the-credit-test"


@dataclass
class Credit:
    """The NATS names of one test, its node agent and its HTTP session."""

    stream: TestStream
    bucket: str
    env: dict[str, str]
    agent_url: str = ""

    def answer(self, address: str = ADDRESS) -> dict:
        resp = requests.get(
            f"{self.agent_url}/credit/{address}",
            timeout=10,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    def state_is(self, state: str) -> bool:
        return self.answer()["state"] == state


def delete_bucket(bucket: str) -> None:
    async def run() -> None:
        nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
        with contextlib.suppress(Exception):
            await nc.jetstream(timeout=5).delete_key_value(bucket)
        await nc.close()

    asyncio.run(run())


@pytest.fixture
def credit(pg_stack: Stack) -> Iterator[Credit]:
    need("NATS", nats_reachable())
    stream = TestStream.fresh()
    bucket = f"C{uuid.uuid4().hex[:12]}"
    env = {
        "HERO_NATS_URL": NATS_URL,
        "HERO_NATS_STREAM": stream.name,
        "HERO_NATS_SUBJECT_PREFIX": stream.prefix,
        "HERO_NATS_CREDIT_BUCKET": bucket,
    }
    yield Credit(stream=stream, bucket=bucket, env=env)
    delete_stream(stream.name)
    delete_bucket(bucket)


def seed_account(balance_cents: int) -> Account:
    account = Account.create(address=ADDRESS)
    Billing.create(account=account, balance_cents=balance_cents)
    LedgerEntry.create(
        account=account,
        amount_cents=balance_cents,
        kind="payment",
        ref=f"seed:{ADDRESS}",
        balance_after_cents=balance_cents,
    )
    return account


def start_agent(
    stack: Stack, credit: Credit, tmp_path: Path, *, nats_url: str = NATS_URL, **extra: str
) -> HeroProcess:
    key = nacl.signing.SigningKey.generate()
    key_path = tmp_path / "node-a.key"
    key_path.write_text(key.encode().hex())
    Node.get_or_create(
        name="node-a",
        defaults={"repo_url": str(tmp_path / "repo"), "pubkey_hex": key.verify_key.encode().hex()},
    )
    Node.update(pubkey_hex=key.verify_key.encode().hex()).where(Node.name == "node-a").execute()
    port = free_port()
    env = {
        **stack.env,
        **credit.env,
        "HERO_NATS_URL": nats_url,
        "HERO_NODE_NAME": "node-a",
        "HERO_NODE_KEY": str(key_path),
        "HERO_NODE_JOURNAL": str(tmp_path / "a.journal.db"),
        "HERO_NODE_INTAKE_ADDR": f"127.0.0.1:{port}",
        "HERO_NODE_INTAKE_TOKEN": TOKEN,
        "HERO_NODE_COMMIT_INTERVAL_S": "3600",
        **extra,
    }
    agent = HeroProcess("node", env, stack.log_dir, name="node-a")
    agent.proc = subprocess.Popen(
        [str(BIN / "hero-node"), "serve"],
        env=env,
        stdout=open(agent.log_path, "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
    )
    stack.processes.append(agent)
    credit.agent_url = f"http://127.0.0.1:{port}"
    agent.wait_http(f"{credit.agent_url}/healthz")
    agent.env = env
    return agent


def start_bridge(stack: Stack, credit: Credit) -> None:
    bridge = HeroProcess("bridge", {**stack.env, **credit.env}, stack.log_dir).start()
    stack.processes.append(bridge)
    bridge.wait_for_log("bridge.started")


def reopen(proxy: TcpProxy) -> bool:
    """Bring *proxy* back on its port (a client retrying it may hold the port a moment)."""
    try:
        proxy.up()
    except OSError:
        return False
    return True


def use(credit: Credit, cents: int) -> None:
    resp = requests.post(
        f"{credit.agent_url}/usage",
        timeout=10,
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"user": ADDRESS, "resource_kind": "vm_hour", "quantity": 1, "amount_cents": cents},
    )
    assert resp.status_code == 201, resp.text


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
