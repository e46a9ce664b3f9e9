"""The payment stack as real processes: gateways and workers of one test on its database
and broker, with the environment they share (the fixtures are in tests/integration/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nacl.public
import nacl.signing
import psycopg2
import requests

from models import Account, Billing
from tests.support.procs import HeroProcess, hero_env
from tests.support.services import free_port

#: The webhook secret the test Stripe signs with.
STRIPE_SECRET = "whsec_test_integration_secret"


@dataclass
class Stack:
    """Running hero processes of one test, and the environment they share."""

    env: dict[str, str]
    log_dir: Path
    operator_key_path: Path
    processes: list[HeroProcess] = field(default_factory=list)

    def gateway(self, name: str = "gateway", **overrides: str) -> str:
        port = free_port()
        env = {**self.env, "HERO_HTTP_ADDR": f"127.0.0.1:{port}", **overrides}
        proc = HeroProcess("gateway", env, self.log_dir, name=name).start()
        self.processes.append(proc)
        url = f"http://127.0.0.1:{port}"
        proc.wait_http(url + "/healthz")
        proc.url = url  # type: ignore[attr-defined]
        return url

    def worker(self, name: str = "worker", **overrides: str) -> HeroProcess:
        proc = HeroProcess("worker", {**self.env, **overrides}, self.log_dir, name=name).start()
        self.processes.append(proc)
        proc.wait_for_log("worker.started")
        return proc

    def process(self, name: str) -> HeroProcess:
        return next(p for p in self.processes if p.log_path.stem == name)

    def admin_env(self, *, with_key: bool = True) -> dict[str, str]:
        env = dict(self.env)
        if with_key:
            env["HERO_OPERATOR_KEY"] = str(self.operator_key_path)
        return env


def run_stack(database_url: str, amqp_url: str, tmp_path: Path) -> Iterator[Stack]:
    key = nacl.signing.SigningKey.generate()
    key_path = tmp_path / "operator.key"
    key_path.write_text(key.encode().hex())
    # The service's Mycelium key, shared by every gateway of the stack; no node unless a
    # test starts one (HERO_MYCELIUM_API then points at it).
    mycelium_key = tmp_path / "mycelium_service.key"
    mycelium_key.write_bytes(bytes(nacl.public.PrivateKey.generate()))
    env = hero_env(
        HERO_DATABASE_URL=database_url,
        HERO_AMQP_URL=amqp_url,
        HERO_STRIPE_SECRET_KEY="sk_test_integration",
        HERO_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
        HERO_SANDBOX_PAYMENTS="false",
        HERO_OPERATOR_PUBKEYS=key.verify_key.encode().hex(),
        HERO_WORKER_THREADS="4",
        HERO_MYCELIUM_KEY=str(mycelium_key),
        HERO_MYCELIUM_API=f"http://127.0.0.1:{free_port()}/api/v1",
    )
    running = Stack(env=env, log_dir=tmp_path, operator_key_path=key_path)
    yield running
    for proc in running.processes:
        proc.stop()


ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


PROCESSED = ("message.processed", '"actor_name": "apply_payment"')


def make_account(address: str = ADDRESS) -> Account:
    account = Account.create(address=address)
    Billing.create(account=account)
    return account


def balance(address: str = ADDRESS) -> int:
    return Billing.select().join(Account).where(Account.address == address).get().balance_cents


def post(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url + "/webhooks/stripe", data=body, headers=headers, timeout=30)


def waiting_on_lock(dsn: str) -> bool:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        return bool(cur.fetchone()[0])
