"""The node agent's configuration: ``HERO_NODE_*`` and the shared NATS variables.

It reads the environment with the readers of ``wire.env`` and nothing of the server's
settings, so ``hero-node`` loads no server module to start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from wire.env import ConfigError, read_addr, read_int, read_name, read_url
from wire.nats import CREDIT_BUCKET, USAGE_STREAM, USAGE_SUBJECT_PREFIX
from wire.rules import is_node_name

__all__ = ["ConfigError", "NodeSettings"]


@dataclass(frozen=True)
class NodeSettings:
    """The node agent's configuration (``hero-node``), from ``HERO_NODE_*`` and NATS."""

    name: str
    key_path: str | None
    journal_path: str
    repo: str | None
    repo_token: str | None = field(default=None, repr=False)
    repo_user: str = "hero-node"
    nats_url: str | None = None
    nats_stream: str = USAGE_STREAM
    nats_subject_prefix: str = USAGE_SUBJECT_PREFIX
    intake_host: str = "127.0.0.1"
    intake_port: int = 9931
    #: The intake's bearer token when set by hand (else it is read from ``intake_token_path``).
    intake_token: str | None = field(default=None, repr=False)
    #: The intake token file, created 0600 at first start (default: beside the journal).
    intake_token_path: str = ""
    #: Seconds between commit attempts of the hourly committer (it commits closed hours).
    commit_interval_s: int = 60
    #: The NATS key-value bucket of credit states the agent watches.
    nats_credit_bucket: str = CREDIT_BUCKET
    #: Seconds without contact after which a credit answer is ``unknown``.
    credit_stale_s: int = 300

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> NodeSettings:
        """Raises: ConfigError naming the variable."""
        name = environ.get("HERO_NODE_NAME") or ""
        if not is_node_name(name):
            raise ConfigError("HERO_NODE_NAME", f"must be a node name like node-a, not {name!r}")
        host, port = read_addr(environ, "HERO_NODE_INTAKE_ADDR", "127.0.0.1:9931")
        journal = environ.get("HERO_NODE_JOURNAL") or f"var/node-{name}.journal.db"
        return cls(
            name=name,
            key_path=environ.get("HERO_NODE_KEY") or None,
            journal_path=journal,
            repo=environ.get("HERO_NODE_REPO") or None,
            repo_token=environ.get("HERO_NODE_REPO_TOKEN") or None,
            repo_user=environ.get("HERO_NODE_REPO_USER") or "hero-node",
            nats_url=read_url(environ, "HERO_NATS_URL", ("nats", "tls")),
            nats_stream=read_name(environ, "HERO_NATS_STREAM", USAGE_STREAM),
            nats_subject_prefix=read_name(
                environ, "HERO_NATS_SUBJECT_PREFIX", USAGE_SUBJECT_PREFIX
            ),
            intake_host=host,
            intake_port=port,
            intake_token=environ.get("HERO_NODE_INTAKE_TOKEN") or None,
            intake_token_path=environ.get("HERO_NODE_INTAKE_TOKEN_FILE")
            or str(Path(journal).with_suffix(".intake-token")),
            commit_interval_s=read_int(environ, "HERO_NODE_COMMIT_INTERVAL_S", 60, minimum=1),
            nats_credit_bucket=read_name(environ, "HERO_NATS_CREDIT_BUCKET", CREDIT_BUCKET),
            credit_stale_s=read_int(environ, "HERO_NODE_CREDIT_STALE_S", 300, minimum=1),
        )
