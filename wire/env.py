"""Readers of ``HERO_*`` variables shared by the server's settings and the node agent's.

Each reader names the variable in its ``ConfigError``, so a bad value is reported as
``HERO_NODE_INTAKE_ADDR: must be HOST:PORT, not 'x'`` and never as a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class ConfigError(ValueError):
    """A ``HERO_*`` variable holds a value the program cannot run with."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


def read_name(environ: Mapping[str, str], name: str, default: str) -> str:
    """A NATS stream, subject or bucket name: letters, digits, ``.``, ``_`` and ``-``."""
    value = environ.get(name) or default
    if not _NAME.fullmatch(value):
        raise ConfigError(name, f"letters, digits, '.', '_' and '-' only, not {value!r}")
    return value


def read_int(environ: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    """An integer of at least *minimum*; *default* when unset or empty."""
    raw = environ.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, not {value}")
    return value


def read_url(environ: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    """A URL with one of *schemes* and a host; None when unset or empty."""
    raw = environ.get(name)
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not parts.netloc:
        raise ConfigError(name, f"must be a {'/'.join(schemes)} URL with a host, not {raw!r}")
    return raw


def read_addr(environ: Mapping[str, str], name: str, default: str) -> tuple[str, int]:
    """A ``HOST:PORT`` pair (an IPv6 host may be bracketed)."""
    raw = environ.get(name) or default
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(name, f"must be HOST:PORT, not {raw!r}")
    return host.strip("[]"), int(port)
