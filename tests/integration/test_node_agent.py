"""The node agent as real processes, against the local NATS and a git smart-HTTP Forge."""

from __future__ import annotations

import datetime as dt
import json
import signal
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
from tests.support.nats_helpers import StoredMsg, TestStream, delete_stream, stream_messages
from tests.support.procs import HeroProcess, hero_env, wait_until
from tests.support.services import free_port, nats_reachable
from tests.support.tcp_proxy import TcpProxy
from wire.otoml import format_time, loads, parse_record

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


def check_message(msg: StoredMsg, node: Node, stream: TestStream) -> str:
    """Assert one stored message is a well-formed, signed record; return its key."""
    assert msg.subject == f"{stream.prefix}.node-a"
    record = parse_record(json.loads(msg.data), node="node-a", now=dt.datetime.now(dt.UTC))
    assert msg.data == json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert msg.headers["Nats-Msg-Id"] == record.key
    node.verify_key.verify(msg.data, bytes.fromhex(msg.headers["Hero-Signature"]))
    return record.key


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


def forge_head(forge: GitHttpServer) -> bytes | None:
    with Repo(str(forge.repo_path("node-a"))) as repo:
        try:
            return repo.refs[BRANCH]
        except KeyError:
            return None


def test_records_are_published_once_signed_and_pushed_by_flush(
    make_node: MakeNode, stream: TestStream, forge: GitHttpServer
) -> None:
    # Given a serving node with NATS and a Forge
    node = make_node(stream=stream, forge=forge)
    node.serve()
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)

    # When records arrive by the CLI and by POST /usage
    keys = [node.record(), node.record(at=earlier), node.record()]
    keys += [node.post(), node.post()]

    # Then each is published once, with its key as message id and a valid signature
    wait_published(node, 5)
    messages = stream_messages(stream.name)
    assert sorted(check_message(m, node, stream) for m in messages) == sorted(keys)
    assert len(keys) == len(set(keys)) == 5

    # And after a flush they are all in signed OTOML files on the Forge
    flushed = node.cli("flush")
    assert flushed.returncode == 0, flushed.stderr
    batches = forge_batches(forge, node)
    assert sorted(k for ks in batches.values() for k in ks) == sorted(keys)
    assert f"usage_{earlier:%Y-%m-%d-%H}.otoml" in batches
    status = node.status()
    assert (status["journalled"], status["pushed"], status["oldest_unpushed"]) == (5, 5, None)


def test_late_record_rewrites_its_hour_as_the_union_in_a_new_commit(
    make_node: MakeNode, forge: GitHttpServer
) -> None:
    node = make_node(forge=forge)
    hour = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=5)).replace(
        minute=0, second=0, microsecond=0
    )
    name = f"usage_{hour:%Y-%m-%d-%H}.otoml"
    first = node.record(at=hour + dt.timedelta(minutes=5))
    assert node.cli("flush").returncode == 0
    old_head = forge_head(forge)

    # When a record of that hour arrives after it was pushed
    late = node.record(at=hour + dt.timedelta(minutes=59))
    assert node.cli("flush").returncode == 0

    # Then a new commit on top rewrites the file as the union
    new_head = forge_head(forge)
    assert new_head is not None and old_head is not None and new_head != old_head
    with Repo(str(forge.repo_path("node-a"))) as repo:
        commit = repo[new_head]
        assert isinstance(commit, Commit)
        assert commit.parents == [old_head]
    assert forge_batches(forge, node, commit=old_head)[name] == [first]
    assert forge_batches(forge, node)[name] == [first, late]


def test_sigkill_before_publishing_loses_nothing_and_repeats_no_key(
    make_node: MakeNode, stream: TestStream
) -> None:
    # Given a node that reaches NATS through a link we can cut
    proxy = TcpProxy(("127.0.0.1", NATS_PORT)).up()
    try:
        node = make_node(stream=stream, nats_url=f"nats://127.0.0.1:{proxy.port}")
        serving = node.serve("serve-1")
        keys = [node.record(), node.post()]
        wait_published(node, 2)

        # When the link is down, records are journalled, and the agent is killed
        proxy.down()
        keys += [node.record(), node.post(), node.record()]
        assert node.status()["published"] == 2
        serving.kill(signal.SIGKILL)

        # Then after a restart with the link back, everything is published
        proxy.up()
        node.serve("serve-2")
        wait_published(node, 5)
    finally:
        proxy.down()

    messages = stream_messages(stream.name)
    published = [check_message(m, node, stream) for m in messages]
    assert sorted(published) == sorted(keys)
    assert len(published) == len(set(published)) == 5


def test_push_is_retried_while_the_forge_is_down_until_everything_arrives(
    make_node: MakeNode, forge: GitHttpServer
) -> None:
    # Given a serving node whose Forge is away, committing every second
    forge.down = True
    node = make_node(forge=forge, HERO_NODE_COMMIT_INTERVAL_S="1")
    serving = node.serve()
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    keys = [node.record(at=past + dt.timedelta(seconds=s)) for s in range(3)]
    current = node.record()
    current_hour = this_hour()

    # When the closed hour is committed but cannot be pushed, round after round
    wait_until(lambda: node.status()["committed"] >= 3, what="closed hour committed")
    serving.wait_for_log("committer.push_failed", count=2)
    status = node.status()
    assert status["pushed"] == 0
    if current_hour == this_hour():  # serve leaves the open hour alone
        assert status["committed"] == 3
    assert node.cli("flush").returncode == 1
    assert forge_head(forge) is None

    # Then once the Forge is back, serve's next round pushes everything (flush committed
    # the open hour too)
    forge.down = False
    wait_until(lambda: node.status()["pushed"] == 4, what="records pushed")
    pushed = [k for ks in forge_batches(forge, node).values() for k in ks]
    assert sorted(pushed) == sorted([*keys, current])


def this_hour() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
