"""The production shape as real processes, on this run's own database, vhost and streams.

Every product process reaches PostgreSQL, RabbitMQ and NATS through a ``ChaosProxy`` (so a
fault cuts or slows the connection, never the shared service); ``hero-admin`` and the
message sender use the services directly, as an operator's terminal would.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nacl.public
import nacl.signing
import requests

from tests.chaos.credit import FLOOR_CENTS, SUSPEND_AFTER_S
from tests.chaos.proxy import ChaosProxy
from tests.support.git_http import GitHttpServer, git_http_server
from tests.support.nats_helpers import delete_bucket, delete_stream
from tests.support.procs import BIN, HeroProcess, hero_admin, hero_env
from tests.support.services import create_pg_database, drop_pg_database, free_port

STRIPE_SECRET = "whsec_chaos_run_secret"
#: The processes run this working tree's code, whatever the virtualenv installed.
ROOT = Path(__file__).resolve().parents[2]
INTAKE_TOKEN = "chaos-intake-token"


class Role(HeroProcess):
    """A process of the stack: any command line, restartable under the same name."""

    def __init__(self, argv: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        super().__init__(argv[-1], env, log_dir, name=name)
        self.name = name
        self.argv = argv
        self.url = ""

    def start(self) -> Role:
        self._marks = self.log_text.count(self.marker) if self.marker else 0
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def ready(self) -> None:
        """Wait until the process serves (HTTP roles) or logged its start."""
        marker = self.marker
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # an exit meanwhile is the supervisor's to restart
            if self.url:
                with contextlib.suppress(requests.RequestException):
                    if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                        return
            elif marker is None or self.log_text.count(marker) > self._marks:
                return
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not start:\n{self.log_text[-2000:]}")

    @property
    def marker(self) -> str | None:
        """The log line that says this role started (its latest start, for ``ready``)."""
        return {"worker": "worker.started", "bridge": "bridge.started"}.get(self.role)

    def restart(self) -> None:
        self.start()

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None


@dataclass
class NodeAgent:
    name: str
    env: dict[str, str]
    role: Role
    url: str
    nats: bool


@dataclass
class ChaosStack:
    run_dir: Path
    workers: int = 2
    nodes: int = 4
    uid: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    roles: dict[str, Role] = field(default_factory=dict)
    agents: dict[str, NodeAgent] = field(default_factory=dict)
    gateways: list[str] = field(default_factory=list)
    #: Restarts the supervisor made for processes that exited on their own (name -> count).
    self_exits: dict[str, int] = field(default_factory=dict)
    node_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.db_name = f"hero_chaos_{self.uid}"
        self.vhost = f"hero_chaos_{self.uid}"
        self.stream = f"CHAOS{self.uid}"
        self.prefix = f"chaos{self.uid}.usage"
        self.bucket = f"CHAOSCREDIT{self.uid}"
        self._exit = contextlib.ExitStack()
        self.proxies = {
            "postgresql": ChaosProxy(("127.0.0.1", 5432), "postgresql"),
            "rabbitmq": ChaosProxy(("127.0.0.1", 5672), "rabbitmq"),
            "nats": ChaosProxy(("127.0.0.1", 4222), "nats"),
        }

    # -- set-up -------------------------------------------------------------------------
    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.db_url = create_pg_database(self.db_name)
        self._exit.callback(drop_pg_database, self.db_name)
        subprocess.run(
            ["rabbitmqctl", "-q", "add_vhost", self.vhost], check=True, capture_output=True
        )
        self._exit.callback(
            subprocess.run,
            ["rabbitmqctl", "-q", "delete_vhost", self.vhost],
            check=False,
            capture_output=True,
        )
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
        )
        self._exit.callback(delete_stream, self.stream)
        self._exit.callback(delete_bucket, self.bucket)
        for proxy in self.proxies.values():
            proxy.up()
            self._exit.callback(proxy.down)
        self.forge: GitHttpServer = self._exit.enter_context(
            git_http_server(self.run_dir / "forge")
        )
        self._exit.callback(self.stop_all)
        self.operator_key = self.run_dir / "operator.key"
        key = nacl.signing.SigningKey.generate()
        self.operator_key.write_text(key.encode().hex())
        mycelium_key = self.run_dir / "mycelium_service.key"
        mycelium_key.write_bytes(bytes(nacl.public.PrivateKey.generate()))
        amqp = "amqp://guest:guest@127.0.0.1:{}/" + self.vhost
        common = dict(
            PYTHONPATH=str(ROOT),
            HERO_STRIPE_SECRET_KEY="sk_test_chaos",
            HERO_STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
            HERO_SANDBOX_PAYMENTS="false",
            HERO_KYC_PROVIDER="none",
            HERO_KYC_REQUIRED_FOR="none",
            HERO_OPERATOR_PUBKEYS=key.verify_key.encode().hex(),
            HERO_WORKER_THREADS="4",
            HERO_MYCELIUM_KEY=str(mycelium_key),
            HERO_MYCELIUM_API=f"http://127.0.0.1:{free_port()}/api/v1",
            HERO_NATS_STREAM=self.stream,
            HERO_NATS_SUBJECT_PREFIX=self.prefix,
            HERO_NATS_CREDIT_BUCKET=self.bucket,
            HERO_CREDIT_FLOOR_CENTS=str(FLOOR_CENTS),
            HERO_SUSPEND_AFTER_S=str(SUSPEND_AFTER_S),
            HERO_FORGE_USER="forge",
            HERO_FORGE_TOKEN="s3cret",
            HERO_FORGE_TIMEOUT_S="5",
            HERO_MIRROR_DIR=str(self.run_dir / "mirrors"),
            HERO_OUTBOX_DIR=str(self.run_dir / "outbox"),
        )
        self.direct_env = hero_env(
            **common,
            HERO_DATABASE_URL=self.db_url,
            HERO_AMQP_URL=amqp.format(5672),
            HERO_NATS_URL="nats://127.0.0.1:4222",
            HERO_OPERATOR_KEY=str(self.operator_key),
        )
        pg = self.proxies["postgresql"].port
        self.env = hero_env(
            **common,
            HERO_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{pg}/{self.db_name}",
            HERO_AMQP_URL=amqp.format(self.proxies["rabbitmq"].port),
            HERO_NATS_URL=f"nats://127.0.0.1:{self.proxies['nats'].port}",
        )
        migrated = subprocess.run(
            [str(BIN / "hero-onboarding"), "migrate"],
            env=self.direct_env,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"migrate failed: {migrated.stdout}{migrated.stderr}")

    def start_services(self) -> None:
        """Workers, two gateways, the bridge and the scheduler; each waited for."""
        onboarding = str(BIN / "hero-onboarding")
        for i in range(1, self.workers + 1):
            self._role([onboarding, "worker"], self.env, f"worker-{i}")
        for i in (1, 2):
            port = free_port()
            env = {**self.env, "HERO_HTTP_ADDR": f"127.0.0.1:{port}"}
            role = self._role([onboarding, "gateway"], env, f"gateway-{i}", start=False)
            role.url = f"http://127.0.0.1:{port}"
            self.gateways.append(role.url)
            role.start()
        self._role([onboarding, "bridge"], self.env, "bridge")
        self._role([onboarding, "scheduler"], self.env, "scheduler")
        for role in self.roles.values():
            role.ready()

    def start_nodes(self) -> None:
        """Node agents (all but the last also publish over NATS), registered by hero-admin."""
        keys = {f"node-{i}": nacl.signing.SigningKey.generate() for i in range(self.nodes)}
        urls = {name: self.forge.create_repo(name) for name in keys}
        adds = [
            threading.Thread(target=self._node_add, args=(name, urls[name], key))
            for name, key in keys.items()
        ]
        for thread in adds:
            thread.start()
        for i, (name, key) in enumerate(keys.items()):
            nats = i < self.nodes - 1 or self.nodes == 1
            key_path = self.run_dir / f"{name}.key"
            key_path.write_text(key.encode().hex())
            port = free_port()
            env = {
                **self.env,
                "HERO_NODE_NAME": name,
                "HERO_NODE_KEY": str(key_path),
                "HERO_NODE_JOURNAL": str(self.run_dir / f"{name}.journal.db"),
                "HERO_NODE_REPO": urls[name],
                "HERO_NODE_REPO_USER": "forge",
                "HERO_NODE_REPO_TOKEN": "s3cret",
                "HERO_NODE_INTAKE_ADDR": f"127.0.0.1:{port}",
                "HERO_NODE_INTAKE_TOKEN": INTAKE_TOKEN,
                "HERO_NODE_COMMIT_INTERVAL_S": "20",
            }
            if not nats:
                env.pop("HERO_NATS_URL")
            role = self._role([str(BIN / "hero-node"), "serve"], env, name, start=False)
            role.url = f"http://127.0.0.1:{port}"
            role.start()
            self.agents[name] = NodeAgent(name, env, role, role.url, nats)
        for agent in self.agents.values():
            agent.role.ready()
        for thread in adds:
            thread.join()
        if self.node_errors:
            raise RuntimeError("; ".join(self.node_errors))

    def _node_add(self, name: str, url: str, key: nacl.signing.SigningKey) -> None:
        added = self.admin(
            "node", "add", name, "--repo", url, "--pubkey", key.verify_key.encode().hex()
        )
        if added.returncode != 0:
            self.node_errors.append(f"node add {name}: {added.stdout}{added.stderr}")

    def _role(self, argv: list[str], env: dict[str, str], name: str, *, start: bool = True) -> Role:
        role = Role(argv, env, self.run_dir, name)
        self.roles[name] = role
        if start:
            role.start()
        return role

    def supervise(self) -> None:
        """Restart a process that exits on its own, as compose's ``restart: unless-stopped``
        does (a worker exits when PostgreSQL stops answering, for example)."""
        self._supervising = threading.Event()
        self.locks: dict[str, threading.Lock] = {name: threading.Lock() for name in self.roles}

        def loop() -> None:
            while not self._supervising.wait(0.5):
                for name, role in self.roles.items():
                    with self.locks[name]:
                        if role.exited():
                            self.self_exits[name] = self.self_exits.get(name, 0) + 1
                            time.sleep(0.5)
                            role.restart()

        threading.Thread(target=loop, daemon=True, name="supervisor").start()

    # -- operator tools -----------------------------------------------------------------
    def admin(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return hero_admin(*args, env=self.direct_env, timeout=timeout)

    def send(self, messages: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        """Send actor messages straight to RabbitMQ, each confirmed."""
        lines = "".join(json.dumps([name, kwargs]) + "\n" for name, kwargs in messages)
        done = subprocess.run(
            [sys.executable, "-m", "tests.chaos.send"],
            input=lines,
            env=self.direct_env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if done.returncode != 0 or done.stdout.count("ok") != len(messages):
            raise RuntimeError(f"send failed: {done.stdout[-2000:]}{done.stderr[-4000:]}")

    def node_flush(self, agent: NodeAgent) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "hero-node"), "flush"],
            env=agent.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    # -- tear-down ----------------------------------------------------------------------
    def stop_all(self) -> None:
        if hasattr(self, "_supervising"):
            self._supervising.set()
        for role in self.roles.values():
            if role.proc and role.proc.poll() is None:
                role.proc.terminate()
        for role in self.roles.values():
            role.stop()

    def close(self) -> None:
        self._exit.close()
