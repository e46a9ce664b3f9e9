"""The operator console on a running stack."""

from __future__ import annotations

from pathlib import Path

import nacl.signing

from tests.support.login import ALICE_ADDRESS
from tests.support.stack import Stack


def console_stack(stack: Stack, tmp_path: Path, **env: str) -> str:
    """A gateway with Alice as the only operator address and a worker that trusts the
    console's key; returns the gateway's URL."""
    key = nacl.signing.SigningKey.generate()
    key_path = tmp_path / "console.key"
    key_path.write_text(key.encode().hex())
    pubkeys = f"{stack.env['HERO_OPERATOR_PUBKEYS']},{key.verify_key.encode().hex()}"
    stack.env["HERO_OPERATOR_PUBKEYS"] = pubkeys
    url = stack.gateway(
        HERO_OPERATOR_ADDRESSES=ALICE_ADDRESS, HERO_CONSOLE_KEY=str(key_path), **env
    )
    stack.worker(**env)
    return url
