"""Mycelium-style X25519 keys: the key file, a public key's text, and a login's key proof.

``hero-login`` and the gateway speak these between them: the client seals the login
code in a NaCl box from the user's key to the service key (``make_key_proof``) and the
gateway opens it (``gateway.auth.proofs.open_key_proof``). A key file is Mycelium's
``priv_key.bin``: the 32 raw bytes of the private key.
"""

from __future__ import annotations

import os
from pathlib import Path

import nacl.public

from wire.errors import HeroError

#: Size of a Mycelium key file (``priv_key.bin``): the raw X25519 private key.
KEY_FILE_BYTES = 32


class KeyFileError(HeroError):
    """A key file is missing, unreadable or not 32 bytes."""


def parse_public_key(text: str) -> bytes | None:
    """The 32 bytes of a hex X25519 public key, or None when *text* is not one.

    >>> parse_public_key("ab" * 32) == bytes([0xAB]) * 32
    True
    >>> parse_public_key("abc") is None
    True
    """
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        return None
    return raw if len(raw) == 32 else None


def make_key_proof(
    user_key: nacl.public.PrivateKey, service_pubkey: bytes, code: str
) -> tuple[str, str]:
    """The ``(pubkey, box)`` hex pair that proves *code* with *user_key* (the client side)."""
    box = nacl.public.Box(user_key, nacl.public.PublicKey(service_pubkey))
    return bytes(user_key.public_key).hex(), bytes(box.encrypt(code.encode())).hex()


def read_key_file(path: str | os.PathLike[str]) -> bytes:
    """The 32-byte X25519 private key in a Mycelium-style key file.

    Raises:
        KeyFileError: naming the file and what is wrong with it.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) != KEY_FILE_BYTES:
        raise KeyFileError(
            f"{path}: a key file holds {KEY_FILE_BYTES} raw bytes (like Mycelium's "
            f"priv_key.bin), not {len(raw)}"
        )
    return raw


def write_key_file(path: str | os.PathLike[str], raw: bytes) -> None:
    """Write a new key file, mode 0600; never overwrite one.

    Raises:
        KeyFileError: the file exists or cannot be written.
    """
    if len(raw) != KEY_FILE_BYTES:
        raise KeyFileError(f"a key is {KEY_FILE_BYTES} bytes, not {len(raw)}")
    target = Path(path)
    if target.parent != Path("."):
        target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(f"{path}: already exists; not overwriting a key") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as out:
        out.write(raw)
