"""The aggregator: pull each node's Forge repo from its cursor on, hand the records over.

Hash-resume: per node, fetch into a local mirror, walk the commits after the cursor
(the last processed commit) up to the new head, oldest first; for every batch file a
commit added or changed, verify its signature with the node's key, parse it, and hand
the records to ``apply_usage_batch``; move the cursor only after they were handed over.
A cursor that is no longer in the history means a force-push: alert, re-walk everything
(idempotent keys keep charges single) and report the keys that vanished.

Nothing is parsed before its signature verified. A file that fails either is quarantined
with an alert (commit, path, reason); a bad record is rejected with an alert and the rest
of its file handed over. A node that cannot be fetched or read is alerted and skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.signing
import structlog

import actors
from actors import RETRY_POLICY, actor
from actors.alerts import raise_alert
from actors.deps import current
from actors.usage import deliver_usage
from adapters.forge import DEFAULT_TIMEOUT_S, BatchFile, ForgeMirror, ForgeUnavailable
from models import Node, UsageRecord, db, is_sqlite
from wire.otoml import OtomlError, batch_path, format_time, loads
from wire.times import utcnow

log = structlog.get_logger("hero.aggregator")

#: Records per apply_usage_batch message.
BATCH_RECORDS = 1000
#: Commits between cursor checkpoints during a long catch-up.
CHECKPOINT_COMMITS = 24

Deliver = Callable[[list[dict[str, Any]]], None]
Progress = Callable[[int, int, int], None]  # commits done, commits total, records so far


@dataclass
class PullReport:
    """What one pull of one node did."""

    node: str
    head: str | None = None
    commits: int = 0
    files: int = 0
    records: int = 0
    quarantined: int = 0
    rejected: int = 0
    force_push: bool = False
    vanished: list[str] = field(default_factory=list)
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ForgeAccess:
    """Where mirrors live and how to log in to the Forge."""

    mirror_dir: str = "var/mirrors"
    username: str | None = None
    password: str | None = None
    #: Connect and read timeout of a fetch, in seconds.
    timeout_s: float = DEFAULT_TIMEOUT_S


def verify_file(file: BatchFile, key: nacl.signing.VerifyKey) -> str | None:
    """Why *file*'s detached signature does not verify, or None when it does."""
    if file.signature is None:
        return "no .sig file beside it"
    try:
        signature = bytes.fromhex(file.signature.decode("ascii").strip())
    except (ValueError, UnicodeDecodeError):
        return "the .sig file is not hex"
    if len(signature) != 64:
        return "the .sig file is not a 64-byte Ed25519 signature"
    try:
        key.verify(file.data, signature)
    except nacl.exceptions.BadSignatureError:
        return "bad signature"
    return None


def pull(
    node: Node,
    *,
    deliver: Deliver,
    access: ForgeAccess | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> PullReport:
    """Pull one node's new commits and deliver their records.

    Raises:
        ForgeUnavailable: the repo could not be fetched (nothing moved).
    """
    access = access or current().forge
    now = now or dt.datetime.now(dt.UTC)
    report = PullReport(node=node.name)
    with (
        node_lock(node) as locked,
        ForgeMirror(
            mirror_dir=access.mirror_dir,
            node=node.name,
            url=node.repo_url,
            username=access.username,
            password=access.password,
            timeout_s=access.timeout_s,
        ) as mirror,
    ):
        if not locked:
            report.skipped = "another pull of this node is running"
            return report
        head = mirror.fetch()
        report.head = head
        if head is None or head == node.cursor_commit:
            return report
        cursor = node.cursor_commit
        if cursor is not None and not mirror.is_ancestor(cursor, head):
            report.force_push = True
            report.vanished = _vanished(mirror, node, cursor, head, now)
            raise_alert(
                "force_push",
                node.name,
                f"history rewritten: cursor {cursor[:12]} is not in head {head[:12]}",
                {"cursor": cursor, "head": head, "vanished_keys": report.vanished[:1000]},
            )
            cursor = None
        _walk(
            mirror, node, cursor, head, deliver=deliver, report=report, now=now, progress=progress
        )
    log.info(
        "aggregator.pulled",
        **{k: v for k, v in report.as_dict().items() if k != "vanished"},
        vanished=len(report.vanished),
    )
    return report


def _walk(
    mirror: ForgeMirror,
    node: Node,
    cursor: str | None,
    head: str,
    *,
    deliver: Deliver,
    report: PullReport,
    now: dt.datetime,
    progress: Progress | None,
) -> None:
    key = _verify_key(node)
    commits = mirror.new_commits(cursor, head)
    pending: list[dict[str, Any]] = []
    for done, sha in enumerate(commits, start=1):
        for file in mirror.changed_files(sha):
            report.files += 1
            pending.extend(_records(file, node.name, key, report, now))
            while len(pending) >= BATCH_RECORDS:
                deliver(pending[:BATCH_RECORDS])
                pending = pending[BATCH_RECORDS:]
        report.commits = done
        if done % CHECKPOINT_COMMITS == 0 or done == len(commits):
            if pending:
                deliver(pending)
                pending = []
            _move_cursor(node, sha)
        if progress:
            progress(done, len(commits), report.records)


def _verify_key(node: Node) -> nacl.signing.VerifyKey:
    """The node's registered key.

    Raises:
        ForgeUnavailable: the registered key is not an Ed25519 public key.
    """
    try:
        return nacl.signing.VerifyKey(bytes.fromhex(node.pubkey_hex))
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        raise ForgeUnavailable(f"{node.name}: registered key is not an Ed25519 key") from None


def _records(
    file: BatchFile, node: str, key: nacl.signing.VerifyKey, report: PullReport, now: dt.datetime
) -> list[dict[str, Any]]:
    where = f"{file.commit[:12]} {file.path}"
    reason = verify_file(file, key)
    if reason is None:
        try:
            batch = loads(file.data, now=now, expect_node=node)
        except OtomlError as exc:
            reason = str(exc)[:1000]
        else:
            if batch_path(node, batch.hour) != file.path:
                reason = f"hour: file says {format_time(batch.hour)} but its path is {file.path}"
    if reason is not None:
        report.quarantined += 1
        raise_alert(
            "quarantine",
            node,
            f"{where}: {reason}",
            {"commit": file.commit, "path": file.path, "reason": reason},
        )
        return []
    if batch.rejected:
        report.rejected += len(batch.rejected)
        raise_alert(
            "records_rejected",
            node,
            f"{where}: {len(batch.rejected)} records rejected",
            {
                "commit": file.commit,
                "path": file.path,
                "reasons": [r.reason for r in batch.rejected[:1000]],
            },
        )
    report.records += len(batch.records)
    return [record.to_json() for record in batch.records]


def _vanished(mirror: ForgeMirror, node: Node, old: str, new: str, now: dt.datetime) -> list[str]:
    """Keys charged from the old history that the new history no longer has.

    Only files whose signature verifies are read; the others say nothing here.
    """
    if not mirror.has_commit(old):
        return []
    key = _verify_key(node)

    def keys(sha: str) -> set[str]:
        found: set[str] = set()
        for file in mirror.files_at(sha):
            if verify_file(file, key) is not None:
                continue
            try:
                found.update(
                    r.key for r in loads(file.data, now=now, expect_node=node.name).records
                )
            except OtomlError:
                continue
        return found

    gone = sorted(keys(old) - keys(new))
    charged = {r.key for r in UsageRecord.select(UsageRecord.key).where(UsageRecord.key.in_(gone))}
    return [k for k in gone if k in charged]


def _move_cursor(node: Node, sha: str) -> None:
    Node.update(cursor_commit=sha, cursor_updated_at=utcnow()).where(Node.id == node.id).execute()
    node.cursor_commit = sha


@contextmanager
def node_lock(node: Node) -> Any:
    """One pull per node at a time (a PostgreSQL advisory lock; SQLite has one writer)."""
    if is_sqlite():
        yield True
        return
    lock_id = 0x4845524F0000 + int(node.id)
    got = db.execute_sql("SELECT pg_try_advisory_lock(%s)", (lock_id,)).fetchone()[0]
    try:
        yield bool(got)
    finally:
        if got:
            db.execute_sql("SELECT pg_advisory_unlock(%s)", (lock_id,))


def default_deliver(records: list[dict[str, Any]]) -> None:
    """Hand records from git to apply_usage_batch."""
    deliver_usage(records, "git")


@actor(queue_name="usage", **{**RETRY_POLICY, "time_limit": 25 * 60_000})
def pull_node(name: str) -> dict[str, Any]:
    """Pull one node now."""
    node = Node.get_or_none(Node.name == name)
    if node is None:
        return {"node": name, "skipped": "no such node"}
    try:
        return pull(node, deliver=default_deliver).as_dict()
    except ForgeUnavailable as exc:
        return skip_node(name, exc)


def skip_node(name: str, exc: ForgeUnavailable) -> dict[str, Any]:
    """A node that could not be fetched or read this time: alerted, the others go on."""
    log.warning("aggregator.forge_unavailable", node=name, error=str(exc))
    raise_alert("forge_unavailable", name, str(exc)[:1000], {"node": name})
    return {"node": name, "skipped": str(exc)}


@actor(queue_name="usage", **RETRY_POLICY)
def pull_all() -> int:
    """Hourly: one pull_node message per registered node."""
    from messages import PullNode

    names = [n.name for n in Node.select(Node.name).order_by(Node.name)]
    for name in names:
        actors.send(PullNode(name=name))
    return len(names)
