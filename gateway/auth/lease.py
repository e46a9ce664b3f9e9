"""Who polls the Mycelium node: one process at a time, whatever the number of gateways.

A Mycelium node holds its API lock for the whole of a long poll, so two pollers queue
behind each other until their reads time out. Every gateway runs a watcher, and only the
one holding the node's lease polls; the others stand by and try again every few seconds.

- PostgreSQL: ``pg_try_advisory_lock`` on a connection of the lease's own (not the pool's).
  The server releases the lock when that connection ends, so a gateway that dies (or
  loses the database) lets another take over within ``STANDBY_RETRY_S``.
- SQLite: an exclusive ``flock`` on a file beside the database. Processes that share a
  SQLite file share a machine, and the kernel releases the lock when the holder dies.
- A SQLite database in memory: one process only; the lease is always held.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from typing import Any, Protocol
from urllib.parse import urlsplit

import peewee
import structlog

from models.dialect import is_postgres

log = structlog.get_logger("hero.login")

#: Seconds a standing-by watcher waits before trying the lease again.
STANDBY_RETRY_S = 2.0
#: Namespace of the lease keys (so another use of advisory locks cannot collide).
LEASE_NAMESPACE = b"hero.login.watcher\x00"


class Lease(Protocol):
    """The right to poll one Mycelium node."""

    def acquire(self) -> bool:
        """Take the lease, or confirm it is still held; False when another process has it."""
        ...

    def release(self) -> None:
        """Give the lease up (also done by the process ending)."""
        ...


def node_identity(api_url: str) -> str:
    """The node a URL names, as the lease key is made from: scheme, host, port and path.

    >>> node_identity("HTTP://Mycelium:8989/api/v1/")
    'http://mycelium:8989/api/v1'
    """
    parts = urlsplit(api_url.strip())
    scheme = parts.scheme.lower() or "http"
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}{parts.path.rstrip('/')}"


def lease_key(api_url: str) -> int:
    """The signed 64-bit advisory lock key of the node at *api_url*."""
    digest = hashlib.sha256(LEASE_NAMESPACE + node_identity(api_url).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresLease:
    """``pg_try_advisory_lock`` held on a dedicated connection."""

    def __init__(self, *, key: int, connect: Any) -> None:
        self._key = key
        self._connect = connect
        self._conn: Any = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        try:
            if self._conn is None:
                self._conn = self._connect()
                self._conn.autocommit = True
            with self._conn.cursor() as cursor:
                if self._held:
                    cursor.execute("SELECT 1")  # the lock lives as long as this connection
                    return True
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self._key,))
                self._held = bool(cursor.fetchone()[0])
                return self._held
        except Exception as exc:  # noqa: BLE001 - any failure: the lock is not ours
            log.warning("login.lease_lost" if self._held else "login.lease_error", error=str(exc))
            self._drop()
            return False

    def release(self) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection
                conn.close()


class FileLease:
    """An exclusive ``flock`` on *path*, held while the file stays open."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # closing the file releases the lock


class ProcessLease:
    """The lease of a database only this process can see: always held."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


def lease_for(database: peewee.Database, *, api_url: str) -> Lease:
    """The lease on the node at *api_url* among the processes sharing *database*."""
    if is_postgres(database):
        params = dict(database.connect_params)
        params.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)

        def connect() -> Any:
            import psycopg2

            return psycopg2.connect(
                dbname=database.database, application_name="hero-login-watcher", **params
            )

        return PostgresLease(key=lease_key(api_url), connect=connect)
    if isinstance(database, peewee.SqliteDatabase) and database.database not in ("", ":memory:"):
        suffix = f"{lease_key(api_url) & 0xFFFFFFFFFFFFFFFF:016x}"
        return FileLease(f"{os.path.abspath(database.database)}.watcher-{suffix}.lock")
    return ProcessLease()
