"""A node's Forge repository, seen through a local bare mirror (dulwich).

Fetches over git smart-HTTP (basic auth, a token as the password) or from a local path,
and answers the aggregator's questions: which commits are new, which batch files each
one added or changed, and whether the old cursor is still in the history.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from dulwich import porcelain
from dulwich.diff_tree import tree_changes
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.graph import can_fast_forward
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo
from dulwich.walk import ORDER_TOPO, Walker

from models.errors import HeroError

#: The branch node agents commit to.
BRANCH: Any = b"refs/heads/main"
#: Where the mirror keeps the last fetched head.
MIRROR_REF: Any = b"refs/remotes/origin/main"


class ForgeUnavailable(HeroError):
    """The node's repository could not be fetched (server down, auth refused, not a repo)."""


@dataclass(frozen=True)
class BatchFile:
    """One batch file as it stands in one commit, with its detached signature."""

    commit: str
    path: str
    data: bytes
    signature: bytes | None


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Take ``user:token@`` out of an HTTP URL; local paths pass through."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) or None


class ForgeMirror:
    """The local bare mirror of one node's repository."""

    def __init__(
        self,
        *,
        mirror_dir: str,
        node: str,
        url: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.node = node
        self.url, user, secret = split_credentials(url)
        self._username = user or username
        self._password = secret or password
        path = os.path.join(mirror_dir, f"{node}.git")
        os.makedirs(mirror_dir, exist_ok=True)
        self._repo = Repo(path) if os.path.isdir(path) else Repo.init_bare(path, mkdir=True)
        self._pattern = re.compile(rf"^nodes/{re.escape(node)}/usage_[0-9-]+\.otoml$")

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> ForgeMirror:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self) -> str | None:
        """Fetch the node's branch; return its head commit, or None for an empty repo.

        Raises:
            ForgeUnavailable: naming why.
        """
        try:
            result = porcelain.fetch(
                self._repo,
                self.url,
                username=self._username,
                password=self._password,
                outstream=io.StringIO(),
                errstream=io.BytesIO(),
                quiet=True,
            )
        except (GitProtocolError, HangupException, NotGitRepository, OSError) as exc:
            raise ForgeUnavailable(f"fetching {self.url}: {exc}") from None
        head = result.refs.get(BRANCH)
        if head is None:
            return None
        self._repo.refs[MIRROR_REF] = head
        return str(head.decode())

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether *old* is in *new*'s history (False when *old* is unknown here)."""
        try:
            return bool(can_fast_forward(self._repo, _oid(old), _oid(new)))
        except KeyError:
            return False

    def has_commit(self, sha: str) -> bool:
        return _oid(sha) in self._repo.object_store

    def new_commits(self, cursor: str | None, head: str) -> list[str]:
        """Commits after *cursor* up to *head*, oldest first (all of them without a cursor)."""
        exclude = [_oid(cursor)] if cursor and self.has_commit(cursor) else []
        walker = Walker(
            self._repo.object_store,
            include=[_oid(head)],
            exclude=exclude,
            order=ORDER_TOPO,
            reverse=True,
        )
        return [entry.commit.id.decode() for entry in walker]

    def changed_files(self, sha: str) -> list[BatchFile]:
        """Batch files a commit added or changed (or whose signature it changed)."""
        commit = self._commit(sha)
        parent_tree = self._commit(commit.parents[0].decode()).tree if commit.parents else None
        touched: set[str] = set()
        for change in tree_changes(self._repo.object_store, parent_tree, commit.tree):
            if change.new is None or change.new.path is None:
                continue
            path = change.new.path.decode()
            path = path[: -len(".sig")] if path.endswith(".otoml.sig") else path
            if self._pattern.match(path):
                touched.add(path)
        return [self._file(commit, path) for path in sorted(touched)]

    def files_at(self, sha: str) -> Iterator[BatchFile]:
        """Every batch file in the tree of commit *sha*."""
        commit = self._commit(sha)
        prefix = f"nodes/{self.node}".encode()
        try:
            _, tree_id = self._tree_lookup(commit.tree, prefix)
        except KeyError:
            return
        tree = self._repo[tree_id]
        assert isinstance(tree, Tree)
        for entry in tree.items():
            path = f"nodes/{self.node}/{entry.path.decode()}"
            if self._pattern.match(path):
                yield self._file(commit, path)

    def _file(self, commit: Commit, path: str) -> BatchFile:
        return BatchFile(
            commit=commit.id.decode(),
            path=path,
            data=self._blob(commit.tree, path) or b"",
            signature=self._blob(commit.tree, path + ".sig"),
        )

    def _blob(self, tree_id: bytes, path: str) -> bytes | None:
        try:
            _, blob_id = self._tree_lookup(tree_id, path.encode())
        except KeyError:
            return None
        blob = self._repo[blob_id]
        return blob.data if isinstance(blob, Blob) else None

    def _tree_lookup(self, tree_id: bytes, path: bytes) -> tuple[int, bytes]:
        tree = self._repo[tree_id]
        assert isinstance(tree, Tree)
        return tree.lookup_path(self._repo.object_store.__getitem__, path)

    def _commit(self, sha: str) -> Commit:
        commit = self._repo[_oid(sha)]
        assert isinstance(commit, Commit)
        return commit


def _oid(sha: str) -> ObjectID:
    return ObjectID(sha.encode())
