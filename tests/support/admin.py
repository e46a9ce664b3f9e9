"""hero-admin in-process: an operator key, its environment and a command run."""

from __future__ import annotations

import io
from collections.abc import Iterator

import nacl.signing
import pytest

import actors
import cli.admin
from cli.admin import main
from messages import Message

OPERATOR = nacl.signing.SigningKey(bytes(range(32)))


OPERATOR_PUBKEY = OPERATOR.verify_key.encode().hex()


ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def admin_env(sqlite_db: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    key = f"{tmp_path}/operator.key"
    with open(key, "w") as fh:
        fh.write(OPERATOR.encode().hex())
    monkeypatch.setenv("HERO_DATABASE_URL", sqlite_db)
    monkeypatch.setenv("HERO_OPERATOR_KEY", key)
    monkeypatch.setenv("HERO_OPERATOR_PUBKEYS", OPERATOR_PUBKEY)
    monkeypatch.delenv("HERO_AMQP_URL", raising=False)
    yield


@pytest.fixture
def no_worker(admin_env: None, monkeypatch: pytest.MonkeyPatch) -> list[Message]:
    """Changes are sent as with RabbitMQ (kept in the returned list) and no worker takes them:
    ``submit`` waits ``WAIT_S``, cut to 0.3 s, and gives up as it would after a minute."""
    sent: list[Message] = []
    monkeypatch.setattr(actors, "is_in_process", lambda: False)
    monkeypatch.setattr(actors, "send", sent.append)
    monkeypatch.setattr(cli.admin, "WAIT_S", 0.3)
    return sent


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()
