"""The committer against a local bare repo and a local-path remote (offline, real dulwich)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nacl.signing
import pytest
from dulwich.object_store import commit_tree_changes, tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.repo import Repo

from node_agent.committer import BRANCH, Committer, Remote, repo_path_for
from node_agent.journal import Journal
from node_agent.keys import sign_hex
from node_agent.records import draft_record
from wire.otoml import dumps, loads

H10 = dt.datetime(2026, 11, 21, 10, tzinfo=dt.UTC)
USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
PATH = "nodes/node-a/usage_2026-11-21-10.otoml"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey.generate()


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "node-a.db", node="node-a")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    Repo.init_bare(str(tmp_path / "remote.git"), mkdir=True).close()
    return tmp_path / "remote.git"


def make_committer(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path | None, clock: Clock
) -> Committer:
    return Committer(
        repo_path_for(journal.path),
        node="node-a",
        key=key,
        remote=Remote(str(remote)) if remote else None,
        clock=clock,
    )


def add(journal: Journal, at: dt.datetime) -> str:
    raw = {
        "user": USER,
        "resource_kind": "vm_hour",
        "quantity": 1,
        "amount_cents": 10,
        "occurred_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return journal.append(draft_record(raw, node="node-a", now=at), now=at).key


def read(repo_path: Path, commit_id: bytes, path: str) -> bytes:
    with Repo(str(repo_path)) as repo:
        commit = repo[commit_id]
        assert isinstance(commit, Commit)
        _, sha = tree_lookup_path(repo.object_store.__getitem__, commit.tree, path.encode())
        return repo.object_store[sha].as_raw_string()


def test_closed_hour_is_committed_signed_and_pushed(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    keys = [add(journal, H10 + dt.timedelta(minutes=m)) for m in (5, 50)]
    committer = make_committer(journal, key, remote, Clock(H10 + dt.timedelta(hours=1)))

    outcome = committer.run(journal, include_open=False)

    assert outcome.pushed and len(outcome.commits) == 1
    head = Repo(str(remote)).refs[BRANCH]
    data = read(remote, head, PATH)
    signature = read(remote, head, PATH + ".sig")
    assert len(signature) == 128
    key.verify_key.verify(data, bytes.fromhex(signature.decode()))
    batch = loads(data, now=H10 + dt.timedelta(hours=2), expect_node="node-a")
    assert [r.key for r in batch.records] == keys
    assert journal.counts().pushed == 2


def test_open_hour_waits_for_serve_but_not_for_flush(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    add(journal, H10 + dt.timedelta(minutes=5))
    committer = make_committer(journal, key, remote, Clock(H10 + dt.timedelta(minutes=30)))

    assert committer.run(journal, include_open=False).commits == ()
    assert len(committer.run(journal, include_open=True).commits) == 1


def test_late_record_rewrites_the_hour_as_the_union_in_a_new_commit(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    clock = Clock(H10 + dt.timedelta(hours=2))
    committer = make_committer(journal, key, remote, clock)
    first = add(journal, H10 + dt.timedelta(minutes=5))
    (old_head,) = committer.run(journal, include_open=False).commits

    late = add(journal, H10 + dt.timedelta(minutes=59))
    (new_head,) = committer.run(journal, include_open=False).commits

    with Repo(str(remote)) as repo:
        assert repo.refs[BRANCH].decode() == new_head
        commit = repo[new_head.encode()]
        assert isinstance(commit, Commit)
        assert [p.decode() for p in commit.parents] == [old_head]
    batch = loads(read(remote, new_head.encode(), PATH), now=clock.now)
    assert [r.key for r in batch.records] == [first, late]


def test_repeating_a_commit_that_changes_nothing_makes_no_commit(
    journal: Journal, key: nacl.signing.SigningKey, tmp_path: Path
) -> None:
    # Given an hour committed, whose journal marks were then lost (a crash before marking)
    add(journal, H10)
    committer = make_committer(journal, key, None, Clock(H10 + dt.timedelta(hours=1)))
    (head,) = committer.run(journal, include_open=False).commits
    journal._db.execute("UPDATE records SET committed_at = NULL, commit_id = NULL")

    # When the committer runs again
    (again,) = committer.run(journal, include_open=False).commits

    # Then the same file gives the same tree, and no new commit is made
    assert again == head == committer.head()


def test_failed_push_leaves_records_committed_but_unpushed(
    journal: Journal, key: nacl.signing.SigningKey, tmp_path: Path
) -> None:
    add(journal, H10)
    missing = tmp_path / "not-there.git"
    committer = make_committer(journal, key, missing, Clock(H10 + dt.timedelta(hours=1)))

    outcome = committer.run(journal, include_open=False)

    assert not outcome.pushed
    counts = journal.counts()
    assert (counts.committed, counts.pushed) == (1, 0)

    Repo.init_bare(str(missing), mkdir=True).close()
    assert committer.run(journal, include_open=False).pushed
    assert journal.counts().pushed == 1


def test_unreadable_committed_file_is_not_rewritten_and_its_records_wait(
    journal: Journal, key: nacl.signing.SigningKey
) -> None:
    # Given a committed hour whose file in the local repo was damaged by hand
    clock = Clock(H10 + dt.timedelta(hours=1))
    committer = make_committer(journal, key, None, clock)
    add(journal, H10)
    committer.run(journal, include_open=False)
    with Repo(str(committer.repo_path)) as repo:
        old = repo.refs[BRANCH]
        parent = repo[old]
        assert isinstance(parent, Commit)
        junk = Blob.from_string(b"format = 1\nnode = 'node-a'\n[[records]]\nkey = 7\n")
        repo.object_store.add_object(junk)
        damaged = Commit()
        damaged.tree = commit_tree_changes(
            repo.object_store, parent.tree, [(PATH.encode(), 0o100644, junk.id)]
        )
        damaged.parents = [old]
        damaged.author = damaged.committer = b"someone <someone@example>"
        damaged.author_time = damaged.commit_time = 0
        damaged.author_timezone = damaged.commit_timezone = 0
        damaged.message = b"damage\n"
        repo.object_store.add_object(damaged)
        repo.refs[BRANCH] = damaged.id

    # When a late record of that hour is committed
    late = add(journal, H10 + dt.timedelta(minutes=30))
    outcome = committer.run(journal, include_open=False)

    # Then the hour fails, the file is left as it is, and the record waits in the journal
    assert outcome.failed_hours == 1 and outcome.commits == ()
    assert committer.head() == damaged.id.decode()
    assert [r.key for r in journal.uncommitted()] == [late]


def test_a_ref_lock_left_by_a_killed_agent_does_not_stop_commits(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    # Given a commit, then an agent killed while it moved the branch (its lock file stays)
    add(journal, H10 + dt.timedelta(minutes=5))
    committer = make_committer(journal, key, remote, Clock(H10 + dt.timedelta(hours=1)))
    assert committer.run(journal, include_open=False).commits
    repo_path = repo_path_for(journal.path)
    (repo_path / "refs" / "heads" / "main.lock").write_bytes(b"")
    (repo_path / "packed-refs.lock").write_bytes(b"")

    # When a later record's hour is committed
    later = add(journal, H10 + dt.timedelta(hours=1, minutes=5))
    committer = make_committer(journal, key, remote, Clock(H10 + dt.timedelta(hours=2)))
    outcome = committer.run(journal, include_open=False)

    # Then it is committed and pushed, and the stale locks are gone
    assert outcome.pushed and len(outcome.commits) == 1 and outcome.failed_hours == 0
    assert not list(repo_path.glob("**/*.lock"))
    head = Repo(str(remote)).refs[BRANCH]
    batch = loads(
        read(remote, head, "nodes/node-a/usage_2026-11-21-11.otoml"),
        now=H10 + dt.timedelta(hours=3),
        expect_node="node-a",
    )
    assert [r.key for r in batch.records] == [later]


H11_PATH = "nodes/node-a/usage_2026-11-21-11.otoml"


def rewrite_remote(remote: Path, onto: bytes, changes: list[tuple[str, bytes]]) -> bytes:
    """Force *remote*'s main to a new commit on *onto* writing *changes* (a force-push)."""
    with Repo(str(remote)) as repo:
        parent = repo[onto]
        assert isinstance(parent, Commit)
        blobs = [Blob.from_string(data) for _, data in changes]
        for blob in blobs:
            repo.object_store.add_object(blob)
        commit = Commit()
        commit.tree = commit_tree_changes(
            repo.object_store,
            parent.tree,
            [
                (path.encode(), 0o100644, blob.id)
                for (path, _), blob in zip(changes, blobs, strict=True)
            ],
        )
        commit.parents = [ObjectID(onto)]
        commit.author = commit.committer = b"someone <someone@example>"
        commit.author_time = commit.commit_time = 0
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = b"rewritten\n"
        repo.object_store.add_object(commit)
        repo.refs[BRANCH] = commit.id
        return commit.id


def history(repo_path: Path, head: bytes) -> list[bytes]:
    with Repo(str(repo_path)) as repo:
        return [entry.commit.id for entry in repo.get_walker(include=[ObjectID(head)])]


def test_a_rewritten_remote_gets_every_committed_record_again_on_top_of_its_history(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    # Given two hours pushed, one commit each
    clock = Clock(H10 + dt.timedelta(hours=2, minutes=30))
    committer = make_committer(journal, key, remote, clock)
    first = add(journal, H10 + dt.timedelta(minutes=5))
    (one,) = committer.run(journal, include_open=False).commits
    second = add(journal, H10 + dt.timedelta(hours=1, minutes=5))
    assert committer.run(journal, include_open=False).pushed

    # When the Forge's main is force-pushed to another history: the second commit dropped,
    # another commit with other content in its place
    rewritten = rewrite_remote(remote, one.encode(), [("NOTES.md", b"moved by an operator\n")])
    # and a late record of the second hour waits to be committed
    late = add(journal, H10 + dt.timedelta(hours=1, minutes=50))
    outcome = committer.run(journal, include_open=False)

    # Then the agent builds on the remote's history and pushes: nothing is lost
    assert outcome.pushed and outcome.failed_hours == 0
    head = Repo(str(remote)).refs[BRANCH]
    assert rewritten in history(remote, head)
    assert read(remote, head, "NOTES.md") == b"moved by an operator\n"
    later = H10 + dt.timedelta(hours=3)
    hour10 = loads(read(remote, head, PATH), now=later, expect_node="node-a")
    hour11 = read(remote, head, H11_PATH)
    key.verify_key.verify(hour11, bytes.fromhex(read(remote, head, H11_PATH + ".sig").decode()))
    assert [r.key for r in hour10.records] == [first]
    assert [r.key for r in loads(hour11, now=later).records] == [second, late]
    assert journal.counts().pushed == 3
    assert committer.head() == head.decode()

    # And the next record is a plain fast-forward again
    add(journal, H10 + dt.timedelta(hours=1, minutes=55))
    assert committer.run(journal, include_open=False).pushed
    assert head in history(remote, Repo(str(remote)).refs[BRANCH])


def test_a_rewritten_remote_file_not_signed_by_the_node_is_replaced_not_merged(
    journal: Journal, key: nacl.signing.SigningKey, remote: Path
) -> None:
    # Given an hour pushed
    clock = Clock(H10 + dt.timedelta(hours=1, minutes=30))
    committer = make_committer(journal, key, remote, clock)
    mine = add(journal, H10 + dt.timedelta(minutes=5))
    (one,) = committer.run(journal, include_open=False).commits

    # When a force-push replaces its file with one holding a forged record, signed by
    # another key, and one more record of the hour waits
    other = Journal(journal.path.with_name("other.db"), node="node-a")
    for minute in (1, 2, 3):  # keys node-a:1 to node-a:3, other times than the node's
        add(other, H10 + dt.timedelta(minutes=minute))
    forger = nacl.signing.SigningKey.generate()
    forged = dumps("node-a", H10, [r.record for r in other.uncommitted()])
    rewrite_remote(
        remote,
        one.encode(),
        [(PATH, forged), (PATH + ".sig", sign_hex(forger, forged).encode())],
    )
    late = add(journal, H10 + dt.timedelta(minutes=40))
    assert committer.run(journal, include_open=False).pushed

    # Then the file is the node's own again: its records only, signed by its key
    head = Repo(str(remote)).refs[BRANCH]
    data = read(remote, head, PATH)
    key.verify_key.verify(data, bytes.fromhex(read(remote, head, PATH + ".sig").decode()))
    records = loads(data, now=clock.now).records
    assert [r.key for r in records] == [mine, late]
    assert [r.occurred_at for r in records] == [H10 + dt.timedelta(minutes=m) for m in (5, 40)]
