"""A mirror of a local repository (its objects copied as files) and the "have" lines of an
HTTP fetch: catch-ups, repacks, a rewritten and pruned history, and fetches that bring only
what is new."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from actors.aggregator import ForgeAccess, pull
from actors.usage import apply_batch
from adapters.forge import ForgeMirror
from models import Account, Billing, Node
from tests.support.aggregator import (  # noqa: F401 - db_url and forge are fixtures
    HOUR,
    NOW,
    USER,
    balance,
    db_url,
    forge,
    rec,
)
from tests.support.node_repo import NodeRepo


@pytest.fixture
def local(tmp_path: Path, db_url: str) -> NodeRepo:  # noqa: F811 - the fixture
    bare = tmp_path / "forge" / "node-a.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    repo = NodeRepo(tmp_path / "work", str(bare), "node-a")
    Node.create(name="node-a", repo_url=str(bare), pubkey_hex=repo.pubkey)
    Billing.create(account=Account.create(address=USER))
    return repo


def pull_local(tmp_path: Path):
    def deliver(records: list[dict[str, Any]]) -> None:
        apply_batch(records, via="git", now=NOW)

    return pull(
        Node.get(Node.name == "node-a"),
        deliver=deliver,
        access=ForgeAccess(mirror_dir=str(tmp_path / "mirrors")),
        now=NOW,
    )


def test_loose_objects_then_a_repacked_remote_are_caught_up_each_record_once(
    local: NodeRepo, tmp_path: Path
) -> None:
    local.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2)])
    local.commit()
    local.push()  # loose objects in the remote
    assert pull_local(tmp_path).records == 2

    local.git("-C", local.remote, "repack", "-a", "-d", "-q")  # now one pack, no loose
    local.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 3)])
    local.commit()
    local.push()

    report = pull_local(tmp_path)
    assert (report.commits, report.records, report.quarantined) == (1, 3, 0)
    assert balance() == -30
    assert pull_local(tmp_path).commits == 0


def test_a_rewritten_and_pruned_local_remote_still_reports_vanished_keys(
    local: NodeRepo, tmp_path: Path
) -> None:
    local.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 3)])
    base = local.commit("first")
    local.push()
    pull_local(tmp_path)

    local.git("reset", "-q", "--hard", base)
    local.git("commit", "-q", "--amend", "-m", "rewritten")
    local.write_batch(HOUR, [rec("node-a", 1), rec("node-a", 2), rec("node-a", 4)])
    local.commit("rewritten again")
    local.push(force=True)
    for args in (("reflog", "expire", "--expire=now", "--all"), ("gc", "-q", "--prune=now")):
        local.git("-C", local.remote, *args)  # the old history is gone from the remote

    report = pull_local(tmp_path)
    assert report.force_push
    assert report.vanished == ["node-a:3"]  # the mirror kept what the remote dropped
    assert balance() == -40


def test_a_fetch_over_http_brings_only_the_new_commit(forge, tmp_path: Path) -> None:  # noqa: F811
    url = forge.create_repo("node-a")
    repo = NodeRepo(tmp_path / "work", url.replace("http://", "http://forge:s3cret@"), "node-a")
    for seq in range(1, 21):  # twenty commits of history
        repo.write_batch(HOUR, [rec("node-a", s) for s in range(1, seq + 1)])
        repo.commit(f"c{seq}")
    repo.push()
    mirror_dir = str(tmp_path / "mirrors")

    def fetch() -> int:
        """Objects the fetch wrote into the mirror."""
        with ForgeMirror(
            mirror_dir=mirror_dir, node="node-a", url=url, username="forge", password="s3cret"
        ) as mirror:
            before = sum(len(p.index) for p in mirror._repo.object_store.packs)
            mirror.fetch()
            return sum(len(p.index) for p in mirror._repo.object_store.packs) - before

    assert fetch() >= 20 * 3
    repo.write_batch(HOUR, [rec("node-a", s) for s in range(1, 22)])
    repo.commit("c21")
    repo.push()
    # the commit, its three trees, the two changed files and the bases a thin pack needs
    # (7 with dulwich 1.2, 14 with 0.24, the floor); not the history again (126 before)
    assert fetch() <= 20


def test_only_the_nodes_own_batch_files_count_and_a_new_signature_rereads_its_file(
    local: NodeRepo, tmp_path: Path
) -> None:
    rel = local.write_batch(HOUR, [rec("node-a", 1)])
    (local.path / "nodes" / "node-b").mkdir(parents=True)
    (local.path / "nodes" / "node-b" / Path(rel).name).write_text("not ours")
    (local.path / (rel + ".d")).mkdir()  # a directory beside the batch
    (local.path / (rel + ".d") / "x").write_text("ignored")
    local.commit()
    local.push()
    first = pull_local(tmp_path)
    assert (first.files, first.records, first.quarantined) == (1, 1, 0)

    (local.path / "README").write_text("a change elsewhere")
    local.commit()
    (local.path / rel).chmod(0o755)  # the mode alone changes
    local.commit()
    local.write_batch(HOUR, [rec("node-a", 1)], signature="00" * 64)  # a new, bad .sig
    local.commit()
    local.push()
    report = pull_local(tmp_path)
    assert (report.commits, report.files, report.quarantined) == (3, 2, 1)
    assert balance() == -10
