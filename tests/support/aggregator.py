"""The aggregator against a git Forge of the test: a signed node repository on PostgreSQL or
SQLite (the ``db_url``, ``forge`` and ``node`` fixtures, imported by the modules that use them),
its records and pulls, and a Forge that never answers."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.aggregator import ForgeAccess, pull
from actors.usage import apply_batch
from models import Account, Billing, Node
from tests.support.git_http import git_http_server
from tests.support.node_repo import NodeRepo
from wire.otoml import UsageIn

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


HOUR = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


NOW = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)


def rec(
    node: str, seq: int, cents: int = 10, hour: dt.datetime = HOUR, user: str = USER
) -> UsageIn:
    return UsageIn(
        key=f"{node}:{seq}",
        node=node,
        user=user,
        resource_kind="vm_hour",
        applies_to="vm",
        quantity=1,
        amount_cents=cents,
        occurred_at=hour + dt.timedelta(minutes=seq % 60),
    )


@pytest.fixture(params=["postgresql", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("pg_db" if request.param == "postgresql" else "sqlite_db"))


@pytest.fixture
def forge(tmp_path: Path):
    with git_http_server(tmp_path / "forge") as server:
        yield server


@pytest.fixture
def node(forge, tmp_path: Path, db_url: str) -> NodeRepo:
    url = forge.create_repo("node-a")
    auth_url = url.replace("http://", "http://forge:s3cret@")
    repo = NodeRepo(tmp_path / "work", auth_url, "node-a")
    Node.create(name="node-a", repo_url=url, pubkey_hex=repo.pubkey)
    account = Account.create(address=USER)
    Billing.create(account=account)
    return repo


def run_pull(tmp_path: Path, delivered: list | None = None):
    access = ForgeAccess(mirror_dir=str(tmp_path / "mirrors"), username="forge", password="s3cret")

    def deliver(records):
        if delivered is not None:
            delivered.append(len(records))
        apply_batch(records, via="git", now=NOW)

    return pull(Node.get(Node.name == "node-a"), deliver=deliver, access=access, now=NOW)


def balance() -> int:
    return Billing.get().balance_cents


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/node-a.git"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()
