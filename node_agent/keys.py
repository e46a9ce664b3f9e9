"""The node's Ed25519 signing key: a file holding the 32-byte seed as hex (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing


class NodeKeyError(Exception):
    """The key file is missing, unreadable, or holds no 32-byte hex seed."""


def generate_key_file(path: str | Path) -> nacl.signing.SigningKey:
    """Write a new key to *path* (created 0600, never overwritten); return it.

    Raises:
        FileExistsError: *path* exists.
        OSError: the file cannot be written.
    """
    key = nacl.signing.SigningKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key.encode().hex() + "\n")
    return key


def load_key(path: str | Path | None) -> nacl.signing.SigningKey:
    """The signing key in *path* (``HERO_NODE_KEY``).

    Raises:
        NodeKeyError: naming the file and the problem.
    """
    if not path:
        raise NodeKeyError("HERO_NODE_KEY: not set; make a key with `hero-node keygen --out FILE`")
    try:
        seed = bytes.fromhex(Path(path).read_text().strip())
    except (OSError, ValueError) as exc:
        raise NodeKeyError(f"HERO_NODE_KEY: cannot read a hex seed from {path}: {exc}") from None
    if len(seed) != 32:
        raise NodeKeyError(f"HERO_NODE_KEY: {path} holds {len(seed)} bytes, a seed is 32")
    return nacl.signing.SigningKey(seed)


def sign_hex(key: nacl.signing.SigningKey, data: bytes) -> str:
    """The detached Ed25519 signature of *data*, as 128 lowercase hex characters."""
    return key.sign(data).signature.hex()
