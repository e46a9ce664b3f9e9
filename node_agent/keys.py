"""The node's secrets in 0600 files: its Ed25519 signing key (hex seed), the intake token."""

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


#: Random bytes in a generated intake token (written as hex).
TOKEN_BYTES = 32
#: The fewest characters an intake token set by hand may have.
MIN_TOKEN_CHARS = 16


def intake_token(*, given: str | None, path: str | Path) -> str:
    """The intake's bearer token: *given* (``HERO_NODE_INTAKE_TOKEN``) or the token file.

    The file is created at first use with a random token, mode 0600 (only the agent's
    user and root can read it; services on the host are given it by their operator).

    Raises:
        NodeKeyError: the given token is too short, or the file cannot be read or made.
    """
    if given is not None:
        if len(given) < MIN_TOKEN_CHARS or not given.isprintable() or " " in given:
            raise NodeKeyError(
                f"HERO_NODE_INTAKE_TOKEN: must be at least {MIN_TOKEN_CHARS} "
                "printable characters without spaces"
            )
        return given
    file = Path(path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise NodeKeyError(f"HERO_NODE_INTAKE_TOKEN_FILE: cannot create {file}: {exc}") from None
    else:
        with os.fdopen(fd, "w") as fh:
            fh.write(os.urandom(TOKEN_BYTES).hex() + "\n")
    try:
        token = file.read_text().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise NodeKeyError(f"HERO_NODE_INTAKE_TOKEN_FILE: cannot read {file}: {exc}") from None
    if len(token) < MIN_TOKEN_CHARS:
        raise NodeKeyError(
            f"HERO_NODE_INTAKE_TOKEN_FILE: {file} holds no token "
            f"(at least {MIN_TOKEN_CHARS} characters); delete it to make one"
        )
    return token
