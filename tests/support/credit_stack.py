"""Credit state at the hosts as real processes: a stack on PostgreSQL with a NATS stream and
bucket of its own, a node agent and the bridge (the ``credit`` fixture, a pytest plugin
registered in tests/conftest.py)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest
import requests

from models import Account, Billing, LedgerEntry, Node
from tests.conftest import need
from tests.support.nats_helpers import NATS_URL, TestStream, delete_bucket, delete_stream
from tests.support.procs import BIN, HeroProcess
from tests.support.services import free_port, nats_reachable
from tests.support.stack import Stack
from tests.support.tcp_proxy import TcpProxy

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
