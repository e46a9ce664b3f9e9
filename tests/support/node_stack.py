"""The node agent as real processes against the local NATS and a git smart-HTTP Forge of
the test (the ``stream``, ``forge`` and ``make_node`` fixtures, imported by the modules that
use them)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
import pytest
import requests
from dulwich.object_store import tree_lookup_path
from dulwich.objects import Commit, Tree
from dulwich.repo import Repo

from node_agent.committer import BRANCH
from tests.conftest import need
from tests.support.git_http import GitHttpServer, git_http_server
from tests.support.nats_helpers import TestStream, delete_stream
from tests.support.procs import HeroProcess, hero_env, wait_until
from tests.support.services import free_port, nats_reachable
from wire.otoml import format_time, loads

HERO_NODE = str(Path(sys.executable).parent / "hero-node")


USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


NATS_PORT = 4222


class NodeProcess(HeroProcess):
    """``hero-node serve`` with its log in a file."""

    def start(self) -> NodeProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [HERO_NODE, "serve"], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        return self


@dataclass
class Node:
    """One node agent's configuration, key and running processes."""

    env: dict[str, str]
    verify_key: nacl.signing.VerifyKey
    log_dir: Path
    processes: list[NodeProcess] = field(default_factory=list)

    @property
    def intake_url(self) -> str:
        return f"http://{self.env['HERO_NODE_INTAKE_ADDR']}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HERO_NODE, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def record(self, *, at: dt.datetime | None = None, quantity: int = 1200) -> str:
        args = [
            "record",
            "--user",
            USER,
            "--kind",
            "llm_token",
            "--quantity",
            str(quantity),
            "--amount-cents",
            "3",
            "--applies-to",
            "llm",
        ]
        result = self.cli(*args, *(["--at", format_time(at)] if at else []))
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def post(self, *, quantity: int = 7) -> str:
        token = Path(self.env["HERO_NODE_INTAKE_TOKEN_FILE"]).read_text().strip()
        resp = requests.post(
            f"{self.intake_url}/usage",
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
            json={
                "user": USER,
                "resource_kind": "vm_hour",
                "quantity": quantity,
                "amount_cents": 10,
                "applies_to": "vm",
            },
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["key"])

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json")
        assert result.returncode == 0, result.stderr
        return dict(json.loads(result.stdout))

    def serve(self, name: str = "serve") -> NodeProcess:
        proc = NodeProcess("hero-node serve", self.env, self.log_dir, name=name).start()
        self.processes.append(proc)
        proc.wait_http(f"{self.intake_url}/healthz")
        return proc


MakeNode = Callable[..., Node]


@pytest.fixture
def stream() -> Iterator[TestStream]:
    """A JetStream stream name and subject prefix of this test alone, deleted after."""
    need("NATS", nats_reachable())
    test_stream = TestStream.fresh()
    yield test_stream
    delete_stream(test_stream.name)


@pytest.fixture
def forge(tmp_path: Path) -> Iterator[GitHttpServer]:
    with git_http_server(tmp_path / "forge") as server:
        server.create_repo("node-a")
        yield server


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[MakeNode]:
    """Builds a node-a agent (key made by `hero-node keygen`); stops its processes after."""
    nodes: list[Node] = []

    def build(
        *,
        nats_url: str | None = None,
        stream: TestStream | None = None,
        forge: GitHttpServer | None = None,
        **overrides: str,
    ) -> Node:
        key_path = tmp_path / "node.key"
        if not key_path.exists():
            made = subprocess.run(
                [HERO_NODE, "keygen", "--out", str(key_path)],
                capture_output=True,
                text=True,
                check=True,
            )
            (tmp_path / "node.pub").write_text(made.stdout.strip().splitlines()[-1])
        env = hero_env(
            HERO_NODE_NAME="node-a",
            HERO_NODE_KEY=str(key_path),
            HERO_NODE_JOURNAL=str(tmp_path / "var" / "node-a.db"),
            HERO_NODE_INTAKE_ADDR=f"127.0.0.1:{free_port()}",
            HERO_NODE_INTAKE_TOKEN_FILE=str(tmp_path / "var" / "intake-token"),
            HERO_NODE_COMMIT_INTERVAL_S="3600",
        )
        if stream is not None:
            env.update(
                HERO_NATS_URL=nats_url or f"nats://127.0.0.1:{NATS_PORT}",
                HERO_NATS_STREAM=stream.name,
                HERO_NATS_SUBJECT_PREFIX=stream.prefix,
            )
        if forge is not None:
            env.update(
                HERO_NODE_REPO=f"{forge.url}/node-a.git",
                HERO_NODE_REPO_USER="forge",
                HERO_NODE_REPO_TOKEN="s3cret",
            )
        env.update(overrides)
        public = bytes.fromhex((tmp_path / "node.pub").read_text())
        node = Node(env=env, verify_key=nacl.signing.VerifyKey(public), log_dir=tmp_path)
        nodes.append(node)
        return node

    yield build
    for node in nodes:
        for proc in node.processes:
            proc.stop()


def wait_published(node: Node, count: int, *, timeout: float = 30) -> None:
    wait_until(
        lambda: node.status()["published"] >= count,
        timeout=timeout,
        what=f"{count} records published",
    )


def forge_batches(
    forge: GitHttpServer,
    node: Node,
    *,
    commit: bytes | None = None,
) -> dict[str, list[str]]:
    """The keys in each batch file of the Forge repo (at *commit*, default main).

    Every file's signature is checked and every file must parse whole.
    """
    with Repo(str(forge.repo_path("node-a"))) as repo:
        head = repo[commit or repo.refs[BRANCH]]
        assert isinstance(head, Commit)
        _, folder = tree_lookup_path(repo.object_store.__getitem__, head.tree, b"nodes/node-a")
        tree = repo.object_store[folder]
        assert isinstance(tree, Tree)
        files = {
            e.path.decode(): repo.object_store[e.sha].as_raw_string() for e in tree.iteritems()
        }
    batches: dict[str, list[str]] = {}
    for name, data in files.items():
        if name.endswith(".sig"):
            continue
        signature = files[name + ".sig"]
        assert len(signature) == 128
        node.verify_key.verify(data, bytes.fromhex(signature.decode()))
        batch = loads(data, now=dt.datetime.now(dt.UTC), expect_node="node-a")
        assert batch.rejected == ()
        batches[name] = [r.key for r in batch.records]
    return batches
