"""Where a node's repository may be: an http(s) URL or an absolute local path, nothing else.

Checked when a node is registered (``hero-admin node add``) and again before every fetch,
so that a location such as ``ssh://-oProxyCommand=...`` or ``ext::sh -c ...`` never
reaches a git transport.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from models.errors import HeroError

_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII | re.IGNORECASE)


class RepoUrlRefused(HeroError):
    """A repo location that is neither an http(s) URL nor an absolute local path."""


def check_repo_url(url: object) -> str:
    """*url* when it is an ``http(s)://host[:port]/path`` URL or an absolute local path.

    Everything else is refused: other schemes (``ssh://``, ``file://``, ``git://``),
    transport helpers (``ext::sh -c ...``), scp-style ``host:path``, option-like text
    (``-oProxyCommand=...``), control characters and malformed hosts or ports.

    Raises:
        RepoUrlRefused: ``repo: ...`` naming the problem.
    """
    if not isinstance(url, str) or not url.strip():
        raise RepoUrlRefused("repo: give the node's git URL (http or https) or absolute path")
    if len(url) > 500:
        raise RepoUrlRefused("repo: longer than 500 characters")
    if url != url.strip() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise RepoUrlRefused("repo: must not contain spaces around it or control characters")
    if "://" in url:
        return _check_http(url)
    if "::" in url:
        raise RepoUrlRefused(f"repo: {url!r} looks like a transport helper; use http(s)")
    if not url.startswith("/"):
        raise RepoUrlRefused(f"repo: {url!r} is neither an http(s) URL nor an absolute local path")
    return url


def _check_http(url: str) -> str:
    """An http(s) URL with a real host; messages never repeat it (it may hold a token)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RepoUrlRefused(f"repo: not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise RepoUrlRefused(f"repo: scheme {parts.scheme!r} refused; use http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host or not _valid_host(host):
        raise RepoUrlRefused(f"repo: {host or '(none)'!r} is not a valid host name")
    if port == 0:
        raise RepoUrlRefused("repo: port 0 is not a port")
    if " " in url or "\\" in parts.netloc:
        raise RepoUrlRefused("repo: spaces or backslashes in the URL")
    return url


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)
