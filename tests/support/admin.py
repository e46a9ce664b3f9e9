"""hero-admin in-process: an operator key, its environment and a command run."""

from __future__ import annotations

import io
from collections.abc import Iterator

import nacl.signing
import pytest

from cli.admin import main

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


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()
