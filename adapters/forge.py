"""A node's Forge repository, seen through a local bare mirror (dulwich).

Fetches over git smart-HTTP (basic auth, a token as the password) or from an absolute
local path, with connect and read timeouts, and answers the aggregator's questions: which
commits are new, which batch files each one added or changed, and whether the old cursor
is still in the history. A history that cannot be read raises ``ForgeUnavailable`` too.
"""

from __future__ import annotations

import os
import re
import stat
import zlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from dulwich.client import (
    HttpGitClient,
    LocalGitClient,
    default_urllib3_manager,
)
from dulwich.errors import (
    ChecksumMismatch,
    GitProtocolError,
    HangupException,
    NotGitRepository,
    ObjectFormatException,
)
from dulwich.graph import can_fast_forward
from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tree
from dulwich.repo import Repo
from dulwich.walk import ORDER_TOPO, Walker

from adapters.forge_local import copy_objects
from adapters.repo_url import RepoUrlRefused, check_repo_url
from models.errors import HeroError

__all__ = [
    "BatchFile",
    "ForgeMirror",
    "ForgeUnavailable",
    "RepoUrlRefused",
    "check_repo_url",
    "split_credentials",
]

#: The branch node agents commit to.
BRANCH: Any = b"refs/heads/main"
#: Where the mirror keeps the last fetched head.
MIRROR_REF: Any = b"refs/remotes/origin/main"
#: Seconds to wait for a connection, and then for each read, before a fetch gives up.
DEFAULT_TIMEOUT_S = 30.0
#: Commits and trees a mirror keeps after reading them.
RECENT_OBJECTS = 256


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
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """Open (or create) the mirror.

        Raises:
            ForgeUnavailable: *url* is not an allowed repo location (``check_repo_url``).
        """
        self.node = node
        try:
            check_repo_url(url)
        except RepoUrlRefused as exc:
            raise ForgeUnavailable(str(exc)) from None
        self.url, user, secret = split_credentials(url)
        self._timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
        self._username = user or username
        self._password = secret or password
        path = os.path.join(mirror_dir, f"{node}.git")
        os.makedirs(mirror_dir, exist_ok=True)
        self._path_on_disk = path
        self._repo = Repo(path) if os.path.isdir(path) else Repo.init_bare(path, mkdir=True)
        self._pattern = re.compile(rf"^nodes/{re.escape(node)}/usage_[0-9-]+\.otoml$")
        #: Commits and trees read lately: a commit's trees are its child's parent trees,
        #: and each one read from a pack costs its whole delta chain.
        self._recent: OrderedDict[ObjectID, ShaFile] = OrderedDict()

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
            if "://" not in self.url:
                store = self._repo.object_store
                objects = os.fspath(store.path)
                if copy_objects(
                    self.url, objects, self._path_on_disk, getattr(store, "object_format", None)
                ):
                    self._repo.close()  # open again: the object store lists its packs afresh
                    self._repo = Repo(self._path_on_disk)
            result = self._client().fetch(self._path(), self._repo)
        except (
            GitProtocolError,
            HangupException,
            NotGitRepository,
            ChecksumMismatch,
            AssertionError,
            OSError,
            urllib3.exceptions.HTTPError,
        ) as exc:
            raise ForgeUnavailable(f"fetching {self.url}: {exc}") from None
        head = result.refs.get(BRANCH)
        if head is None:
            return None
        self._repo.refs[MIRROR_REF] = head
        # Also under the branch's own name: the "have" lines of the next fetch come from
        # refs/heads, and without one the server sends the whole history every time.
        self._repo.refs[BRANCH] = head
        return str(head.decode())

    def _client(self) -> HttpGitClient | LocalGitClient:
        """A client for exactly the two allowed kinds of location; nothing else is built."""
        if "://" not in self.url:
            return LocalGitClient(quiet=True)
        manager = default_urllib3_manager(config=None, timeout=self._timeout)  # type: ignore[arg-type]
        return HttpGitClient(
            self.url,
            pool_manager=manager,
            username=self._username,
            password=self._password,
            quiet=True,
        )

    def _path(self) -> bytes:
        return (self.url if "://" not in self.url else urlsplit(self.url).path).encode()

    def is_ancestor(self, old: str, new: str) -> bool:
        """Whether *old* is in *new*'s history (False when *old* is unknown here)."""
        try:
            return bool(can_fast_forward(self._repo, _oid(old), _oid(new)))
        except KeyError:
            return False
        except _HISTORY_ERRORS as exc:
            raise ForgeUnavailable(f"history of {self.node} unreadable: {exc!r}"[:500]) from None

    def has_commit(self, sha: str) -> bool:
        return _oid(sha) in self._repo.object_store

    def new_commits(self, cursor: str | None, head: str) -> list[str]:
        """Commits after *cursor* up to *head*, oldest first (all of them without a cursor)."""
        with self._readable():
            return self._new_commits(cursor, head)

    def _new_commits(self, cursor: str | None, head: str) -> list[str]:
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
        with self._readable():
            return self._changed_files(sha)

    def _changed_files(self, sha: str) -> list[BatchFile]:
        """The node's directory compared with the first parent's, entry by entry.

        Batch files live directly in ``nodes/<node>/``, so only that tree is compared (as
        ``tree_changes`` would find it, without walking the rest of the tree): a file counts
        when its mode or blob differs from the parent's, and is read by the blob id found.
        """
        commit = self._commit(sha)
        tree = self._node_dir(commit.tree)
        if tree is None:
            return []
        old = (
            self._node_dir(self._commit(commit.parents[0].decode()).tree)
            if commit.parents
            else None
        )
        if old is not None and old.id == tree.id:
            return []
        prefix = f"nodes/{self.node}/"
        touched: set[str] = set()
        blobs: dict[str, ObjectID] = {}
        for name in tree:
            mode, blob_id = tree[name]
            if stat.S_ISDIR(mode) or (
                old is not None and name in old and old[name] == (mode, blob_id)
            ):
                continue
            path = prefix + name.decode()
            blobs[path] = blob_id
            path = path[: -len(".sig")] if path.endswith(".otoml.sig") else path
            if self._pattern.match(path):
                touched.add(path)
        return [self._file(commit, path, blobs) for path in sorted(touched)]

    def _node_dir(self, root_id: bytes) -> Tree | None:
        """The tree ``nodes/<node>`` of a commit's root tree, or None when there is none.

        Raises:
            ValueError: a tree on the way is not a tree (a hostile or broken history).
        """
        tree = self._tree(ObjectID(root_id))
        for name in (b"nodes", self.node.encode()):
            if name not in tree:
                return None
            mode, tree_id = tree[name]
            if not stat.S_ISDIR(mode):
                return None
            tree = self._tree(tree_id)
        return tree

    def _tree(self, oid: ObjectID) -> Tree:
        found = self._object(oid)
        if not isinstance(found, Tree):
            raise ValueError(f"{oid.decode()} is not a tree")
        return found

    def files_at(self, sha: str) -> list[BatchFile]:
        """Every batch file in the tree of commit *sha*."""
        with self._readable():
            return list(self._files_at(sha))

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """Turn a broken or hostile history (missing objects, a blob where a tree should
        be, corrupt data) into ``ForgeUnavailable`` naming the node."""
        try:
            yield
        except _HISTORY_ERRORS as exc:
            raise ForgeUnavailable(f"history of {self.node} unreadable: {exc!r}"[:500]) from None

    def _files_at(self, sha: str) -> Iterator[BatchFile]:
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

    def _file(
        self, commit: Commit, path: str, blobs: Mapping[str, ObjectID] | None = None
    ) -> BatchFile:
        """The file at *path* in *commit*; *blobs*: blob ids already known by path."""
        known = blobs or {}
        return BatchFile(
            commit=commit.id.decode(),
            path=path,
            data=self._blob(commit.tree, path, known.get(path)) or b"",
            signature=self._blob(commit.tree, path + ".sig", known.get(path + ".sig")),
        )

    def _blob(self, tree_id: bytes, path: str, blob_id: ObjectID | None = None) -> bytes | None:
        if blob_id is None:
            try:
                _, found = self._tree_lookup(tree_id, path.encode())
            except KeyError:
                return None
            blob_id = ObjectID(found)
        blob = self._repo.object_store[blob_id]  # read once: not kept
        return blob.data if isinstance(blob, Blob) else None

    def _tree_lookup(self, tree_id: bytes, path: bytes) -> tuple[int, bytes]:
        tree = self._object(ObjectID(tree_id))
        assert isinstance(tree, Tree)
        return tree.lookup_path(self._object, path)

    def _commit(self, sha: str) -> Commit:
        commit = self._object(_oid(sha))
        assert isinstance(commit, Commit)
        return commit

    def _object(self, oid: ObjectID) -> ShaFile:
        """A commit or tree, from the recent ones when it was read lately."""
        found = self._recent.get(oid)
        if found is not None:
            self._recent.move_to_end(oid)
            return found
        found = self._repo.object_store[oid]
        if not isinstance(found, Blob):
            self._recent[oid] = found
            if len(self._recent) > RECENT_OBJECTS:
                self._recent.popitem(last=False)
        return found


#: What reading a broken or hostile history can raise.
_HISTORY_ERRORS: tuple[type[BaseException], ...] = (
    KeyError,
    ValueError,
    TypeError,
    AssertionError,
    IndexError,
    ObjectFormatException,
    ChecksumMismatch,
    zlib.error,
    OSError,
)


def _oid(sha: str) -> ObjectID:
    return ObjectID(sha.encode())
