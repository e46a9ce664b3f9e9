"""The node agent as real processes, against the local NATS and a git smart-HTTP Forge."""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
from pathlib import Path

from dulwich.objects import Commit
from dulwich.repo import Repo

from node_agent.committer import BRANCH
from tests.support.git_http import GitHttpServer
from tests.support.nats_helpers import StoredMsg, TestStream, stream_messages
from tests.support.node_stack import (  # noqa: F401 - stream, forge and make_node are fixtures
    HERO_NODE,
    NATS_PORT,
    USER,
    MakeNode,
    Node,
    NodeProcess,
    forge,
    forge_batches,
    make_node,
    stream,
    wait_published,
)
from tests.support.procs import wait_until
from tests.support.tcp_proxy import TcpProxy
from wire.otoml import parse_record


def check_message(msg: StoredMsg, node: Node, stream: TestStream) -> str:
    """Assert one stored message is a well-formed, signed record; return its key."""
    assert msg.subject == f"{stream.prefix}.node-a"
    record = parse_record(json.loads(msg.data), node="node-a", now=dt.datetime.now(dt.UTC))
    assert msg.data == json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")).encode()
    assert msg.headers["Nats-Msg-Id"] == record.key
    node.verify_key.verify(msg.data, bytes.fromhex(msg.headers["Hero-Signature"]))
    return record.key


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


def test_a_force_pushed_forge_branch_is_built_on_and_nothing_is_lost(
    make_node: MakeNode, forge: GitHttpServer, tmp_path: Path
) -> None:
    # Given two hours pushed, one commit each
    node = make_node(forge=forge)
    hour = this_hour() - dt.timedelta(hours=4)
    first = node.record(at=hour + dt.timedelta(minutes=5))
    assert node.cli("flush").returncode == 0
    second = node.record(at=hour + dt.timedelta(hours=1, minutes=5))
    assert node.cli("flush").returncode == 0

    # When someone force-pushes another history over HTTP: the last commit gone, a commit
    # with other content in its place
    url = forge.url.replace("http://", f"http://{forge.user}:{forge.password}@") + "/node-a.git"
    work = tmp_path / "rewrite"
    git = ["git", "-c", "user.name=operator", "-c", "user.email=operator@forge", "-C", str(work)]
    subprocess.run(["git", "clone", "-q", url, str(work)], check=True)
    subprocess.run([*git, "reset", "-q", "--hard", "HEAD~1"], check=True)
    (work / "NOTES.md").write_text("moved by an operator\n")
    subprocess.run([*git, "add", "NOTES.md"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a note"], check=True)
    subprocess.run([*git, "push", "-q", "--force", "origin", "HEAD:main"], check=True)
    rewritten = forge_head(forge)
    # and one more record comes
    late = node.record(at=hour + dt.timedelta(hours=1, minutes=50))
    flushed = node.cli("flush")

    # Then the flush succeeds on top of the rewritten history, with every record on the Forge
    assert flushed.returncode == 0, flushed.stdout + flushed.stderr
    assert "committer.remote_rewritten" in flushed.stdout + flushed.stderr
    with Repo(str(forge.repo_path("node-a"))) as repo:
        head = repo.refs[BRANCH]
        assert rewritten is not None
        assert [e.commit.id for e in repo.get_walker(include=[head])][1] == rewritten
    batches = forge_batches(forge, node)
    assert sorted(k for keys in batches.values() for k in keys) == sorted([first, second, late])
    assert node.status()["pushed"] == 3
