"""The git shell: hourly batch files committed to a local bare repo, pushed to the Forge.

The local repo sits next to the journal (``<journal stem>.git``). Commits are built from
objects (blob, tree, commit) and ``refs/heads/main`` moves by compare-and-swap, so no
worktree is needed. Each hour with new records gets one commit that writes
``nodes/<node>/usage_<YYYY-MM-DD-HH>.otoml`` (the union of what the tree already has and
the new records) and its detached ``.sig`` (128 hex characters, Ed25519 over the file's
exact bytes, no newline). Records are marked committed only after the ref moved, and
pushed only after the remote accepted the ref; a crash in between repeats the step,
which then changes nothing (same file bytes, same tree: no new commit). Commit and push
run under an exclusive file lock, so ``serve`` and ``flush`` never interleave.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nacl.exceptions
import nacl.signing
import structlog
from dulwich.client import HttpGitClient, LocalGitClient, default_urllib3_manager
from dulwich.graph import can_fast_forward
from dulwich.object_store import commit_tree_changes, iter_tree_contents, tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref
from dulwich.repo import Repo

from node_agent.batches import HourFile, merge_records, plan_commits
from node_agent.journal import FAR_FUTURE, Journal
from node_agent.keys import sign_hex
from wire.otoml import OtomlError, UsageIn, dumps, format_time, loads

log = structlog.get_logger("hero.node.committer")

#: The branch every batch commit goes on, locally and on the remote.
BRANCH = Ref(b"refs/heads/main")
#: Seconds an HTTP request to the Forge may take before the push counts as failed.
HTTP_TIMEOUT_S = 30.0
_FILE_MODE = stat.S_IFREG | 0o644


class CommitError(Exception):
    """An hour could not be committed (its committed file is unreadable, the ref moved)."""


@dataclass(frozen=True)
class Remote:
    """Where batches are pushed: a git smart-HTTP URL (basic auth) or a local path."""

    location: str
    username: str | None = None
    password: str | None = None

    @property
    def is_http(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Outcome:
    """What one commit-and-push round did."""

    commits: tuple[str, ...]
    failed_hours: int
    #: True when nothing committed is left unpushed.
    pushed: bool


def repo_path_for(journal_path: str | Path) -> Path:
    """The local bare repo beside *journal_path* (``var/node-a.db`` -> ``var/node-a.git``)."""
    path = Path(journal_path)
    return path.with_name(path.stem + ".git")


class Committer:
    """Commits a journal's records as signed hourly batches and pushes them."""

    def __init__(
        self,
        repo_path: str | Path,
        *,
        node: str,
        key: nacl.signing.SigningKey,
        remote: Remote | None,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.repo_path = Path(repo_path)
        self.node = node
        self._key = key
        self.remote = remote
        self._clock = clock
        if not (self.repo_path / "HEAD").exists():
            self.repo_path.parent.mkdir(parents=True, exist_ok=True)
            with Repo.init_bare(str(self.repo_path), mkdir=True) as repo:
                repo.refs.set_symbolic_ref(Ref(b"HEAD"), BRANCH)

    def run(self, journal: Journal, *, include_open: bool) -> Outcome:
        """Commit what is due and push; never raises for a failed hour or push (logged).

        Args:
            include_open: also commit the hour that is not over yet (``flush``).
        """
        with self._locked():
            commits, failed = self._commit_due(journal, include_open=include_open)
            pushed = self._push(journal)
        return Outcome(commits=tuple(commits), failed_hours=failed, pushed=pushed)

    def head(self) -> str | None:
        """The local ``main`` commit id, or None before the first commit."""
        with Repo(str(self.repo_path)) as repo:
            sha = _head(repo)
        return sha.decode() if sha else None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.repo_path.with_name(self.repo_path.name + ".lock"), "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                self._clear_stale_git_locks()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _clear_stale_git_locks(self) -> None:
        """Remove git lock files left by a process killed while it wrote a ref.

        Every writer of this repo holds the flock around it first, so a ``*.lock`` file
        seen under the flock belongs to no living writer; left there, it would make every
        later commit fail with ``FileLocked`` and stop the node's git path for good.
        """
        for stale in [*self.repo_path.glob("*.lock"), *self.repo_path.glob("refs/**/*.lock")]:
            stale.unlink(missing_ok=True)
            log.warning("committer.stale_lock_removed", path=str(stale.relative_to(self.repo_path)))

    def _commit_due(self, journal: Journal, *, include_open: bool) -> tuple[list[str], int]:
        now = self._clock()
        rows = journal.uncommitted(hours_before=None if include_open else now)
        plan = plan_commits(rows, node=self.node, now=now, include_open=include_open)
        commits: list[str] = []
        failed = 0
        for hour_file in plan:
            try:
                commit_id = self._commit_hour(hour_file, now=now)
            except (CommitError, OSError) as exc:
                failed += 1
                log.error("committer.hour_failed", path=hour_file.path, error=str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one hour must not stop the others
                failed += 1
                log.exception("committer.hour_failed", path=hour_file.path, error=repr(exc))
                continue
            journal.mark_committed(hour_file.seqs, commit_id=commit_id, now=now)
            commits.append(commit_id)
        return commits, failed

    def _commit_hour(self, hour_file: HourFile, *, now: dt.datetime) -> str:
        """Write one hour's file and signature in a new commit; return the head after it.

        Raises:
            CommitError: the committed file cannot be read back, or ``main`` moved.
        """
        with Repo(str(self.repo_path)) as repo:
            store = repo.object_store
            old = _head(repo)
            old_tree = _tree_of(repo, old)
            existing = self._read_batch(repo, old_tree, hour_file)
            records = merge_records(existing, hour_file.records)
            data = dumps(self.node, hour_file.hour, records)
            blob = Blob.from_string(data)
            sig = Blob.from_string(sign_hex(self._key, data).encode())
            store.add_objects([(blob, None), (sig, None)])
            tree_id = commit_tree_changes(
                store,
                old_tree if old_tree else Tree(),
                [
                    (hour_file.path.encode(), _FILE_MODE, blob.id),
                    (hour_file.sig_path.encode(), _FILE_MODE, sig.id),
                ],
            )
            if old is not None and tree_id == old_tree:
                log.info("committer.unchanged", path=hour_file.path, head=old.decode())
                return old.decode()
            commit = _new_commit(
                tree_id,
                old,
                node=self.node,
                now=now,
                message=f"usage {self.node} {format_time(hour_file.hour)}: "
                f"{len(hour_file.records)} new, {len(records)} in all\n",
            )
            store.add_object(commit)
            moved = (
                repo.refs.set_if_equals(BRANCH, old, commit.id)
                if old is not None
                else repo.refs.add_if_new(BRANCH, commit.id)
            )
            if not moved:
                raise CommitError(f"{BRANCH.decode()} moved while committing; retried later")
        log.info(
            "committer.committed",
            path=hour_file.path,
            commit=commit.id.decode(),
            new=len(hour_file.records),
            total=len(records),
            rewrite=bool(existing),
        )
        return commit.id.decode()

    def _read_batch(self, repo: Repo, tree: ObjectID | None, hour_file: HourFile) -> list[UsageIn]:
        if tree is None:
            return []
        try:
            _, sha = tree_lookup_path(repo.object_store.__getitem__, tree, hour_file.path.encode())
        except KeyError:
            return []
        try:
            # Our own file: no "too far in the future" check (the clock may have gone back).
            batch = loads(
                repo.object_store[sha].as_raw_string(), now=FAR_FUTURE, expect_node=self.node
            )
        except OtomlError as exc:
            raise CommitError(f"{hour_file.path} in the tree cannot be read: {exc}") from None
        if batch.rejected:
            # Rewriting would drop these records: leave the file for an operator instead.
            raise CommitError(
                f"{hour_file.path} in the tree has bad records: {batch.rejected[0].reason}"
            )
        return list(batch.records)

    def _push(self, journal: Journal) -> bool:
        """Push ``main`` when records wait for it; True when none is left unpushed."""
        if journal.committed_unpushed() == 0:
            return True
        if self.remote is None:
            return False
        from dulwich import porcelain

        now = self._clock()
        out = io.BytesIO()
        extra: dict[str, Any] = {}
        if self.remote.is_http:
            extra = {
                "username": self.remote.username,
                "password": self.remote.password,
                "pool_manager": default_urllib3_manager(None, timeout=HTTP_TIMEOUT_S),
            }
        for attempt in (1, 2):
            try:
                result = porcelain.push(
                    str(self.repo_path),
                    self.remote.location,
                    [BRANCH + b":" + BRANCH],
                    outstream=out,
                    errstream=out,
                    **extra,
                )
            except porcelain.DivergedBranches:
                # The remote's main is not in our history: it was rewritten (force-pushed).
                if attempt == 1 and self._rebuild_on_remote(now=now):
                    continue
                log.warning("committer.push_refused", remote=_safe(self.remote.location))
                return False
            except Exception as exc:  # any transport or protocol failure: retried later
                log.warning(
                    "committer.push_failed",
                    remote=_safe(self.remote.location),
                    error=f"{type(exc).__name__}: {exc}",
                )
                return False
            refused = (result.ref_status or {}).get(BRANCH)
            if refused is None:
                break
            # The server refused the update (a non-fast-forward it saw, a hook): rebuild when
            # the remote was rewritten, else leave it to the next round.
            if attempt == 1 and self._rebuild_on_remote(now=now):
                continue
            log.warning(
                "committer.push_refused", remote=_safe(self.remote.location), error=str(refused)
            )
            return False
        marked = journal.mark_pushed(now=now)
        log.info("committer.pushed", remote=_safe(self.remote.location), records=marked)
        return True

    def _fetch_remote(self, repo: Repo) -> ObjectID | None:
        """Fetch the remote's ``main`` into the local object store; return its commit."""
        assert self.remote is not None
        client: HttpGitClient | LocalGitClient
        if self.remote.is_http:
            client = HttpGitClient(
                self.remote.location,
                pool_manager=default_urllib3_manager(None, timeout=HTTP_TIMEOUT_S),
                username=self.remote.username,
                password=self.remote.password,
                quiet=True,
            )
            path = urlsplit(self.remote.location).path
        else:
            client, path = LocalGitClient(quiet=True), self.remote.location
        result = client.fetch(path.encode(), repo)
        return result.refs.get(BRANCH)

    def _rebuild_on_remote(self, *, now: dt.datetime) -> bool:
        """After the remote's ``main`` was rewritten, put our history's batches on top of it.

        The remote's head is fetched; when it is not in our history (a force-push replaced
        commits we had pushed, and maybe others), one commit on top of it writes every batch
        file of our ``main`` again, as the union of our records and the remote's version of
        the file when that version is signed by this node's key (a file we cannot verify is
        not ours to merge, so ours replaces it). Our ``main`` then points at that commit,
        which pushes as a fast-forward: no record committed here is lost, including records
        pushed before the rewrite, and the aggregator charges re-sent records once (by key).

        Returns:
            True when ``main`` was moved onto the remote's history (push again), False when
            the remote could not be read or was not rewritten.
        """
        assert self.remote is not None
        try:
            with Repo(str(self.repo_path)) as repo:
                remote_head = self._fetch_remote(repo)
                local = _head(repo)
                if remote_head is None or local is None:
                    return False
                if can_fast_forward(repo, remote_head, local):
                    return False  # not a rewrite: the refusal has another cause
                rebuilt, files = self._rebuild(repo, local, remote_head, now=now)
                if not repo.refs.set_if_equals(BRANCH, local, rebuilt):
                    raise CommitError(f"{BRANCH.decode()} moved while rebuilding")
        except Exception as exc:  # noqa: BLE001 - retried at the next round
            log.error(
                "committer.rebuild_failed",
                remote=_safe(self.remote.location),
                error=f"{type(exc).__name__}: {exc}",
            )
            return False
        log.error(
            "committer.remote_rewritten",
            remote=_safe(self.remote.location),
            local=local.decode(),
            remote_head=remote_head.decode(),
            rebuilt=rebuilt.decode(),
            files_rewritten=files,
        )
        return True

    def _rebuild(
        self, repo: Repo, local: ObjectID, remote_head: ObjectID, *, now: dt.datetime
    ) -> tuple[ObjectID, int]:
        """The commit on *remote_head* holding our batches; and how many files it wrote."""
        store = repo.object_store
        ours = _tree_of(repo, local)
        theirs = _tree_of(repo, remote_head)
        assert ours is not None and theirs is not None
        prefix = f"nodes/{self.node}/".encode()
        changes: list[tuple[bytes, int, ObjectID]] = []
        for entry in iter_tree_contents(store, ours):
            path, sha = entry.path, entry.sha
            if path is None or sha is None or not path.startswith(prefix):
                continue
            if not path.endswith(b".otoml"):
                continue
            if _lookup(repo, theirs, path) == sha:
                continue  # the remote has our file as it is
            records = self._records(repo, sha)
            remote_blob = _lookup(repo, theirs, path)
            remote_sig = _lookup(repo, theirs, path + b".sig")
            if remote_blob is not None and remote_sig is not None:
                data = repo.object_store[remote_blob].as_raw_string()
                signature = repo.object_store[remote_sig].as_raw_string()
                if self._signed_by_us(data, signature):
                    records = merge_records(self._records(repo, remote_blob), records)
            hour = loads(store[sha].as_raw_string(), now=FAR_FUTURE, expect_node=self.node).hour
            data = dumps(self.node, hour, records)
            blob = Blob.from_string(data)
            sig = Blob.from_string(sign_hex(self._key, data).encode())
            store.add_objects([(blob, None), (sig, None)])
            changes += [(path, _FILE_MODE, blob.id), (path + b".sig", _FILE_MODE, sig.id)]
        if not changes:
            return remote_head, 0
        tree_id = commit_tree_changes(store, theirs, changes)
        commit = _new_commit(
            tree_id,
            remote_head,
            node=self.node,
            now=now,
            message=f"usage {self.node}: {len(changes) // 2} batch files written again "
            "after the remote history was rewritten\n",
        )
        store.add_object(commit)
        return commit.id, len(changes) // 2

    def _records(self, repo: Repo, sha: ObjectID) -> list[UsageIn]:
        batch = loads(repo.object_store[sha].as_raw_string(), now=FAR_FUTURE, expect_node=self.node)
        return list(batch.records)

    def _signed_by_us(self, data: bytes, signature: bytes) -> bool:
        try:
            self._key.verify_key.verify(data, bytes.fromhex(signature.decode("ascii").strip()))
        except (ValueError, UnicodeDecodeError, nacl.exceptions.BadSignatureError):
            return False
        return True


def _new_commit(
    tree_id: ObjectID, parent: ObjectID | None, *, node: str, now: dt.datetime, message: str
) -> Commit:
    commit = Commit()
    commit.tree = tree_id
    commit.parents = [parent] if parent is not None else []
    commit.author = commit.committer = f"hero-node {node} <{node}@hero-node>".encode()
    commit.author_time = commit.commit_time = int(now.timestamp())
    commit.author_timezone = commit.commit_timezone = 0
    commit.encoding = b"UTF-8"
    commit.message = message.encode()
    return commit


def _head(repo: Repo) -> ObjectID | None:
    """The commit ``main`` points at, or None before the first commit."""
    try:
        return repo.refs[BRANCH]
    except KeyError:
        return None


def _tree_of(repo: Repo, commit_id: ObjectID | None) -> ObjectID | None:
    if commit_id is None:
        return None
    commit = repo.object_store[commit_id]
    assert isinstance(commit, Commit)
    return ObjectID(commit.tree)


def _lookup(repo: Repo, tree: ObjectID, path: bytes) -> ObjectID | None:
    """The blob at *path* in *tree*, or None when there is none."""
    try:
        _, sha = tree_lookup_path(repo.object_store.__getitem__, tree, path)
    except KeyError:
        return None
    return sha


def _safe(location: str) -> str:
    """*location* without any credentials written into it."""
    scheme, sep, rest = location.partition("://")
    return f"{scheme}{sep}{rest.rsplit('@', 1)[-1]}" if sep else location
