"""Write a node's Forge repo the way a node agent would, with the git CLI: signed OTOML
batch files, commits, pushes, and history rewrites."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import nacl.signing

from wire.otoml import UsageIn, batch_path, dumps


class NodeRepo:
    """A working clone of one node's repo."""

    def __init__(
        self, path: Path, remote: str, node: str, key: nacl.signing.SigningKey | None = None
    ) -> None:
        self.path = path
        self.remote = remote
        self.node = node
        self.key = key or nacl.signing.SigningKey.generate()
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.email", f"{node}@hero.test")
        self.git("config", "user.name", node)

    @property
    def pubkey(self) -> str:
        return self.key.verify_key.encode().hex()

    def git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    def write_batch(
        self,
        hour: dt.datetime,
        records: list[UsageIn],
        *,
        data: bytes | None = None,
        signature: str | None = None,
    ) -> str:
        """Write (or overwrite) an hour's file and its .sig; return the file's path."""
        rel = batch_path(self.node, hour)
        body = data if data is not None else dumps(self.node, hour, records)
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
        sig = signature if signature is not None else self.key.sign(body).signature.hex()
        (self.path / (rel + ".sig")).write_text(sig)
        return rel

    def commit(self, message: str = "usage") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def push(self, *, force: bool = False) -> None:
        self.git("push", "-q", *(["--force"] if force else []), self.remote, "main")
