"""The usage bench's records and the node repos that carry them.

Records are made for accounts that never paid, so every multiplier is x1 whatever the
category and the oracle is simple: each account is charged exactly the sum of its
records' ``amount_cents``. Repos are written as a node agent writes them (see
``node_agent.committer``): one commit per hour on ``refs/heads/main`` that writes
``nodes/<node>/usage_<YYYY-MM-DD-HH>.otoml`` (``wire.otoml.dumps``) and its detached
``.otoml.sig`` (hex Ed25519 over the file's exact bytes, no newline), built with dulwich
in memory and stored as one pack in a bare repo whose path is the node's repo URL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing
from dulwich.object_store import MemoryObjectStore, commit_tree_changes
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from wire.otoml import UsageIn, batch_path, dumps, hour_of

#: The branch the aggregator reads.
BRANCH = Ref(b"refs/heads/main")
#: Git mode of a batch file and its signature.
FILE_MODE = 0o100644
#: Category -> the resource kind a record of it reports.
KINDS = {"vm": "vm_hour", "llm": "llm_token", "hero_os_hourly": "hero_os_hour"}


@dataclass
class BenchNode:
    """A node of the bench: its name, signing key and next sequence number."""

    name: str
    key: nacl.signing.SigningKey
    next_seq: int = 1

    @property
    def pubkey(self) -> str:
        return self.key.verify_key.encode().hex()

    def sign_hex(self, data: bytes) -> str:
        return self.key.sign(data).signature.hex()


def make_nodes(count: int, *, prefix: str, seed: int) -> list[BenchNode]:
    """*count* nodes ``<prefix>-000``... with deterministic keys."""
    rng = random.Random(seed)
    return [
        BenchNode(f"{prefix}-{i:03d}", nacl.signing.SigningKey(rng.randbytes(32)))
        for i in range(count)
    ]


def make_records(
    node: BenchNode, count: int, *, hour: dt.datetime, users: list[str], rng: random.Random
) -> list[UsageIn]:
    """*count* records of *node* inside *hour* (keys continue the node's sequence)."""
    records = []
    for _ in range(count):
        category = rng.choice(("vm", "llm", "hero_os_hourly"))
        records.append(
            UsageIn(
                key=f"{node.name}:{node.next_seq}",
                node=node.name,
                user=rng.choice(users),
                resource_kind=KINDS[category],
                applies_to=category,
                quantity=rng.randint(1, 5000),
                amount_cents=rng.randint(0, 120),
                occurred_at=hour + dt.timedelta(seconds=rng.randrange(3600)),
            )
        )
        node.next_seq += 1
    return records


def past_hours(count: int, *, now: dt.datetime | None = None) -> list[dt.datetime]:
    """The *count* closed hours before the current one, oldest first."""
    current = hour_of(now or dt.datetime.now(dt.UTC))
    return [current - dt.timedelta(hours=count - i) for i in range(count)]


#: At most this many records and batch files are kept for the limits (a sample of a big
#: catch-up: the limits are rates).
SAMPLE_RECORDS = 200_000
SAMPLE_FILES = 2_000


@dataclass
class RepoSet:
    """Bare repos written for a set of nodes, and what they hold."""

    paths: dict[str, Path] = field(default_factory=dict)  # node -> bare repo (its URL)
    heads: dict[str, str] = field(default_factory=dict)  # node -> head commit
    commits: int = 0
    records: int = 0
    expected_cents: int = 0
    file_bytes: int = 0
    sample: list[UsageIn] = field(default_factory=list)  # the first SAMPLE_RECORDS
    files: list[bytes] = field(default_factory=list)  # the first SAMPLE_FILES files

    @property
    def sample_file_records(self) -> int:
        return self.records * len(self.files) // max(self.commits, 1)


def write_node_repo(
    path: Path,
    node: BenchNode,
    hours: list[dt.datetime],
    per_commit: int,
    users: list[str],
    rng: random.Random,
    into: RepoSet,
) -> None:
    """Write *node*'s bare repo at *path*: one signed batch per hour, one commit each."""
    store = MemoryObjectStore()
    empty = Tree()
    store.add_object(empty)
    tree_id: ObjectID = empty.id
    parent: ObjectID | None = None
    for hour in hours:
        batch = make_records(node, per_commit, hour=hour, users=users, rng=rng)
        data = dumps(node.name, hour, batch)
        blob, sig = Blob.from_string(data), Blob.from_string(node.sign_hex(data).encode())
        store.add_objects([(blob, None), (sig, None)])
        rel = batch_path(node.name, hour).encode()
        tree_id = commit_tree_changes(
            store, tree_id, [(rel, FILE_MODE, blob.id), (rel + b".sig", FILE_MODE, sig.id)]
        )
        commit = Commit()
        commit.tree = tree_id
        commit.parents = [parent] if parent else []
        commit.author = commit.committer = (
            f"hero-node {node.name} <{node.name}@hero-node>"
        ).encode()
        closed = int((hour + dt.timedelta(hours=1)).timestamp())
        commit.author_time = commit.commit_time = closed
        commit.author_timezone = commit.commit_timezone = 0
        commit.encoding = b"UTF-8"
        commit.message = f"usage {node.name} {hour:%Y-%m-%dT%H}: {len(batch)} new\n".encode()
        store.add_object(commit)
        parent = commit.id
        into.commits += 1
        into.records += len(batch)
        into.expected_cents += sum(r.amount_cents for r in batch)
        into.file_bytes += len(data)
        if len(into.sample) < SAMPLE_RECORDS:
            into.sample.extend(batch)
        if len(into.files) < SAMPLE_FILES:
            into.files.append(data)
    assert parent is not None
    with Repo.init_bare(str(path), mkdir=True) as repo:
        repo.object_store.add_objects([(store[sha], None) for sha in store])
        repo.refs[BRANCH] = parent
        repo.refs.set_symbolic_ref(Ref(b"HEAD"), BRANCH)
    into.paths[node.name] = path
    into.heads[node.name] = parent.decode()


def write_repos(
    root: Path,
    nodes: list[BenchNode],
    *,
    commits: int,
    per_commit: int,
    users: list[str],
    seed: int,
) -> RepoSet:
    """A bare repo per node under *root*, each with *commits* hourly commits."""
    rng = random.Random(seed)
    hours = past_hours(commits)
    repos = RepoSet()
    root.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        write_node_repo(root / f"{node.name}.git", node, hours, per_commit, users, rng, repos)
    return repos


def spread(
    nodes: list[BenchNode],
    count: int,
    *,
    users: list[str],
    seed: int,
    now: dt.datetime | None = None,
) -> Iterator[UsageIn]:
    """*count* records round-robin over *nodes*, all in the current hour and not after
    *now* (so a node agent's committer, which commits closed hours only, leaves them be)."""
    rng = random.Random(seed)
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    hour = hour_of(now)
    into_hour = int((now - hour).total_seconds())
    for i in range(count):
        node = nodes[i % len(nodes)]
        (record,) = make_records(node, 1, hour=hour, users=users, rng=rng)
        moment = hour + dt.timedelta(seconds=rng.randint(0, into_hour))
        yield dataclasses.replace(record, occurred_at=moment)
