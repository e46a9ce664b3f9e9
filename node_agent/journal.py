"""The node's usage journal: a SQLite file that holds every record until it is pushed.

A record is durable before ``Journal.append`` returns (WAL, ``synchronous=FULL``, one
committed transaction). Its sequence number comes from an ``AUTOINCREMENT`` primary key,
so a number is never handed out twice, not even after rows are deleted or the file is
reopened; the key is ``<node>:<seq>``. Opened with the node's key (``serve``), a row also
keeps the Ed25519 signature of its body, made once at append for the publisher to send.
Rows are never deleted by the agent: they move
through ``published_at`` (NATS PubAck seen), ``committed_at``/``commit_id`` (in the local
git repo) and ``pushed_at`` (on the Forge remote). A row that can no longer be read as a
valid record (written by hand, by an older version, or outside rules tightened since) is
quarantined instead: ``quarantined_at``/``quarantine_reason`` are set, an error is logged,
and every stage skips it, so the rows after it go on, until ``hero-node quarantine retry``
checks it again and re-admits it if it is valid now. Several processes may share the
file (``hero-node record`` next to ``hero-node serve``): SQLite serialises writers and
``busy_timeout`` waits for the lock instead of failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import structlog

from node_agent.keys import sign_hex
from wire.otoml import UsageIn, format_time, hour_of, parse_record

log = structlog.get_logger("hero.node.journal")

#: A "now" that no record lies 10 minutes ahead of: for re-reading records already accepted.
FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)
#: Columns added after the first release, created on open when an older journal lacks them.
_ADDED_COLUMNS = (
    ("quarantined_at", "TEXT"),
    ("quarantine_reason", "TEXT"),
    ("signature", "TEXT"),
)
#: Characters of a quarantine reason kept (the rest of a long error is cut).
MAX_REASON_CHARS = 500
#: How long a writer waits for another process's lock before failing, in milliseconds.
BUSY_TIMEOUT_MS = 30_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    hour TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    published_at TEXT,
    committed_at TEXT,
    commit_id TEXT,
    pushed_at TEXT,
    quarantined_at TEXT,
    quarantine_reason TEXT,
    signature TEXT
);
CREATE INDEX IF NOT EXISTS records_unpublished ON records (seq) WHERE published_at IS NULL;
CREATE INDEX IF NOT EXISTS records_uncommitted ON records (seq) WHERE committed_at IS NULL;
CREATE INDEX IF NOT EXISTS records_unpushed ON records (seq) WHERE pushed_at IS NULL;
"""


class JournalError(Exception):
    """The journal file cannot be used (another node's journal, unreadable file)."""


@dataclass(frozen=True)
class JournalRow:
    """One journalled record and how far along the pipeline it is."""

    seq: int
    key: str
    #: The exact NATS message body: compact JSON of ``UsageIn.to_json()``, sorted keys.
    body: bytes
    record: UsageIn
    recorded_at: str
    published_at: str | None = None
    committed_at: str | None = None
    commit_id: str | None = None
    pushed_at: str | None = None
    #: Hex Ed25519 signature of ``body`` by the journal's signing key, stored at append
    #: (None: appended without a key; the publisher signs it when it sends it).
    signature: str | None = None

    @property
    def hour(self) -> dt.datetime:
        return hour_of(self.record.occurred_at)


@dataclass(frozen=True)
class Counts:
    """How many records reached each stage, and the oldest that has not."""

    journalled: int
    published: int
    committed: int
    pushed: int
    #: Rows that are not a valid record: skipped by every stage, listed by ``quarantined``.
    quarantined: int
    oldest_unpublished: dict[str, str] | None
    oldest_unpushed: dict[str, str] | None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class RetryOutcome:
    """What ``Journal.retry_quarantined`` did: keys re-admitted, rows kept aside (key, since
    when, new reason), keys that were not quarantined, and keys of no row (then nothing
    was changed)."""

    readmitted: tuple[str, ...] = ()
    still_quarantined: tuple[dict[str, str], ...] = ()
    not_quarantined: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "readmitted": list(self.readmitted),
            "still_quarantined": list(self.still_quarantined),
            "not_quarantined": list(self.not_quarantined),
            "unknown": list(self.unknown),
        }


def encode_body(record: UsageIn) -> bytes:
    """The wire body of *record*: compact JSON, sorted keys, UTF-8."""
    return json.dumps(record.to_json(), sort_keys=True, separators=(",", ":")).encode()


class Journal:
    """The SQLite journal of one node; thread-safe (one connection behind a lock)."""

    def __init__(
        self, path: str | Path, *, node: str, key: nacl.signing.SigningKey | None = None
    ) -> None:
        """Open (creating if needed) the journal at *path* for *node*.

        Args:
            key: the node's signing key: ``append`` then stores each body's signature, so
                the publisher only reads it (signing is its largest cost per record). The
                stored signatures of unpublished rows made by another key are dropped on
                open (the publisher signs those rows again with the current key).

        Raises:
            JournalError: the file belongs to another node or is not a journal.
        """
        self.node = node
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._key = key
        try:
            self._db = sqlite3.connect(
                self.path,
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            self._db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
            self._add_columns()
            self._claim(node)
            if key is not None:
                self._adopt_signer(key)
        except sqlite3.DatabaseError as exc:
            raise JournalError(f"{self.path}: {exc}") from exc

    def _claim(self, node: str) -> None:
        with self._tx():
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('node', ?)", (node,))
            (owner,) = self._db.execute("SELECT value FROM meta WHERE name = 'node'").fetchone()
        if owner != node:
            raise JournalError(f"{self.path} is the journal of node {owner!r}, not {node!r}")

    def _adopt_signer(self, key: nacl.signing.SigningKey) -> None:
        """Forget stored signatures of unpublished rows unless *key* made them."""
        signer = key.verify_key.encode().hex()
        with self._tx():
            row = self._db.execute("SELECT value FROM meta WHERE name = 'signer'").fetchone()
            if row is not None and row[0] == signer:
                return
            self._db.execute(
                "UPDATE records SET signature = NULL "
                "WHERE published_at IS NULL AND signature IS NOT NULL"
            )
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('signer', ?)", (signer,))

    def _add_columns(self) -> None:
        have = {row[1] for row in self._db.execute("PRAGMA table_info(records)")}
        for name, kind in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE records ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def append(self, draft: UsageIn, *, now: dt.datetime) -> UsageIn:
        """Give *draft* the next key and store it durably; returns the keyed record.

        Raises:
            sqlite3.Error: the record could not be stored (nothing was stored).
        """
        with self._lock, self._tx():
            # Under BEGIN IMMEDIATE no other writer runs, so the next number is ours.
            (last,) = self._db.execute(
                "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'records'), 0),"
                " COALESCE((SELECT max(seq) FROM records), 0))"
            ).fetchone()
            seq = int(last) + 1
            record = dataclasses.replace(draft, key=f"{self.node}:{seq}", node=self.node)
            body = encode_body(record)
            self._db.execute(
                "INSERT INTO records (seq, key, body, hour, recorded_at, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    record.key,
                    body.decode(),
                    format_time(hour_of(record.occurred_at)),
                    format_time(now),
                    None if self._key is None else sign_hex(self._key, body),
                ),
            )
        return record

    def unpublished(self, *, limit: int, after_seq: int = 0) -> list[JournalRow]:
        """Records with no PubAck yet, oldest first (quarantined rows left out); only those
        after *after_seq* (the publisher's window: rows already in flight are skipped)."""
        return self._select("published_at IS NULL AND seq > ?", limit=limit, args=(after_seq,))

    def uncommitted(self, *, hours_before: dt.datetime | None = None) -> list[JournalRow]:
        """Records not yet in a local commit, oldest first.

        Args:
            hours_before: only records of hours that start before this one (so the busy
                open hour is not read every round); None for all.
        """
        if hours_before is None:
            return self._select("committed_at IS NULL", limit=-1)
        return self._select(
            "committed_at IS NULL AND hour < ?",
            limit=-1,
            args=(format_time(hour_of(hours_before)),),
        )

    def committed_unpushed(self) -> int:
        """How many records are committed locally but not yet on the remote."""
        with self._lock:
            (count,) = self._db.execute(
                "SELECT count(*) FROM records WHERE pushed_at IS NULL AND committed_at IS NOT NULL"
            ).fetchone()
        return int(count)

    def mark_published(self, seqs: Iterable[int], *, now: dt.datetime) -> None:
        self._mark("published_at = ?", (format_time(now),), "published_at IS NULL", seqs)

    def mark_committed(self, seqs: Iterable[int], *, commit_id: str, now: dt.datetime) -> None:
        self._mark(
            "committed_at = ?, commit_id = ?",
            (format_time(now), commit_id),
            "committed_at IS NULL",
            seqs,
        )

    def mark_pushed(self, *, now: dt.datetime) -> int:
        """Mark every committed record pushed (the caller pushed the head holding them)."""
        with self._lock, self._tx():
            cur = self._db.execute(
                "UPDATE records SET pushed_at = ? "
                "WHERE pushed_at IS NULL AND committed_at IS NOT NULL",
                (format_time(now),),
            )
        return cur.rowcount

    def counts(self) -> Counts:
        """Totals per stage and the oldest record still waiting for NATS or the remote."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*), count(published_at), count(committed_at), count(pushed_at),"
                " count(quarantined_at) FROM records"
            ).fetchone()
            oldest = [
                self._db.execute(
                    f"SELECT key, recorded_at FROM records WHERE {column} IS NULL "  # noqa: S608
                    "AND quarantined_at IS NULL ORDER BY seq LIMIT 1"
                ).fetchone()
                for column in ("published_at", "pushed_at")
            ]
        first, second = ({"key": o[0], "recorded_at": o[1]} if o else None for o in oldest)
        return Counts(
            journalled=row[0],
            published=row[1],
            committed=row[2],
            pushed=row[3],
            quarantined=row[4],
            oldest_unpublished=first,
            oldest_unpushed=second,
        )

    def quarantined(self, *, limit: int) -> list[dict[str, str]]:
        """Quarantined rows, oldest first: key, when, why (for ``hero-node status`` and
        ``hero-node quarantine``); *limit* -1 for all."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, quarantined_at, quarantine_reason FROM records "
                "WHERE quarantined_at IS NOT NULL ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        return [{"key": r[0], "quarantined_at": r[1], "reason": r[2]} for r in rows]

    def retry_quarantined(self, keys: Sequence[str] | None) -> RetryOutcome:
        """Check quarantined rows again and re-admit those that are valid records now.

        Each row is read with the rules every stage reads it with (``_row``: the record
        rules of ``wire.rules``, the body's key equal to the row's). A valid row loses
        ``quarantined_at``/``quarantine_reason``, so the publisher and the committer take
        it on their next round, under its old key (the service charges a key once); a row
        still invalid stays quarantined since the same time, with the new reason.

        All in one ``BEGIN IMMEDIATE`` transaction, so it is safe next to ``serve``: the
        other process's writers wait (``busy_timeout``), its readers see all or nothing.

        Args:
            keys: the rows to retry; None for every quarantined row. If any key is no row
                of this journal nothing is changed and ``unknown`` names them.
        """
        with self._lock, self._tx():
            if keys is None:
                rows = self._db.execute(
                    "SELECT seq, key, body, recorded_at, published_at, committed_at, commit_id,"
                    " pushed_at, quarantined_at FROM records"
                    " WHERE quarantined_at IS NOT NULL ORDER BY seq"
                ).fetchall()
            else:
                wanted = list(dict.fromkeys(keys))
                found = {
                    r[1]: r
                    for r in self._db.execute(
                        "SELECT seq, key, body, recorded_at, published_at, committed_at,"
                        " commit_id, pushed_at, quarantined_at FROM records"
                        " WHERE key IN (SELECT value FROM json_each(?))",
                        (json.dumps(wanted),),
                    )
                }
                unknown = tuple(k for k in wanted if k not in found)
                if unknown:
                    return RetryOutcome(unknown=unknown)
                rows = [found[k] for k in wanted]
            readmitted: list[str] = []
            still: list[dict[str, str]] = []
            not_quarantined: list[str] = []
            for r in rows:
                if r[8] is None:
                    not_quarantined.append(r[1])
                    continue
                try:
                    self._row(r)
                except Exception as exc:  # noqa: BLE001 - any way a row is broken: keep it aside
                    reason = f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]
                    self._db.execute(
                        "UPDATE records SET quarantine_reason = ? WHERE seq = ?", (reason, r[0])
                    )
                    still.append({"key": r[1], "quarantined_at": r[8], "reason": reason})
                    continue
                self._db.execute(
                    "UPDATE records SET quarantined_at = NULL, quarantine_reason = NULL"
                    " WHERE seq = ?",
                    (r[0],),
                )
                readmitted.append(r[1])
        outcome = RetryOutcome(
            readmitted=tuple(readmitted),
            still_quarantined=tuple(still),
            not_quarantined=tuple(not_quarantined),
        )
        for row in still:
            log.error(
                "journal.record_still_quarantined", key=row["key"], reason=row["reason"][:200]
            )
        if readmitted:
            log.info("journal.records_readmitted", count=len(readmitted), first=readmitted[0])
        return outcome

    def quarantine(self, seq: int, *, reason: str, now: dt.datetime) -> None:
        """Set row *seq* aside for good with *reason* (every stage skips it from now on)."""
        with self._lock, self._tx():
            self._db.execute(
                "UPDATE records SET quarantined_at = ?, quarantine_reason = ? "
                "WHERE seq = ? AND quarantined_at IS NULL",
                (format_time(now), reason[:MAX_REASON_CHARS], seq),
            )

    def _select(self, where: str, *, limit: int, args: tuple[object, ...] = ()) -> list[JournalRow]:
        """Rows matching *where*, oldest first; a row that is no record is quarantined."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, key, body, recorded_at, published_at, committed_at, commit_id,"
                " pushed_at, signature"
                f" FROM records WHERE ({where}) AND quarantined_at IS NULL"  # noqa: S608
                " ORDER BY seq LIMIT ?",
                (*args, limit),
            ).fetchall()
        good: list[JournalRow] = []
        for r in rows:
            try:
                good.append(self._row(r, r[8]))
            except Exception as exc:  # noqa: BLE001 - any way a row is broken: set it aside
                self._quarantine_row(r, exc)
        return good

    def _row(self, r: Sequence[Any], signature: str | None = None) -> JournalRow:
        body = r[2].encode() if isinstance(r[2], str) else bytes(r[2])
        # Re-validated against the far future only; the record was checked when journalled.
        record = parse_record(json.loads(body), node=self.node, now=FAR_FUTURE)
        if record.key != r[1]:
            raise ValueError(f"key: the body says {record.key!r}, the row {r[1]!r}")
        return JournalRow(
            seq=r[0],
            key=r[1],
            body=body,
            record=record,
            recorded_at=r[3],
            published_at=r[4],
            committed_at=r[5],
            commit_id=r[6],
            pushed_at=r[7],
            signature=signature,
        )

    def _quarantine_row(self, r: Sequence[Any], exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        self.quarantine(int(r[0]), reason=reason, now=dt.datetime.now(dt.UTC))
        log.error("journal.record_quarantined", key=r[1], seq=r[0], reason=reason[:200])

    def _mark(self, assign: str, values: tuple[str, ...], unless: str, seqs: Iterable[int]) -> None:
        chosen = [(*values, s) for s in seqs]
        if not chosen:
            return
        with self._lock, self._tx():
            self._db.executemany(
                f"UPDATE records SET {assign} WHERE seq = ? AND {unless}",  # noqa: S608
                chosen,
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (or ``ROLLBACK`` on an exception)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
