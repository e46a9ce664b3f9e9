"""Who the client is behind reverse proxies: ``REMOTE_ADDR`` made true before the app runs.

waitress's own proxy-header code does the parsing (``waitress.proxy_headers``), but its
``trusted_proxy`` option names one address (or ``*``) and ``HERO_TRUSTED_PROXIES`` may
name several (a pair of load balancers), so the choice of which peers to believe is
made here, per request:

- from a listed proxy, ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed:
  ``REMOTE_ADDR`` becomes the address *count* hops back (``HERO_TRUSTED_PROXY_COUNT``,
  the number of proxies in the chain), and the scheme the one the client used;
- from anyone else, every ``X-Forwarded-*`` and ``Forwarded`` header is dropped, so a
  client cannot pick the address its login attempts are counted under.

The gateway then reads the client from ``REMOTE_ADDR`` only. Under waitress, its own
handling is switched off (:func:`waitress_options`) so this is the one place it happens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from waitress.proxy_headers import proxy_headers_middleware

#: Headers believed from a trusted proxy (waitress's names for them).
TRUSTED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto"})

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def behind_proxies(app: WsgiApp, *, proxies: tuple[str, ...], count: int = 1) -> WsgiApp:
    """*app*, with ``REMOTE_ADDR`` and the URL scheme resolved through *proxies*."""
    if count < 1:
        raise ValueError(f"count: must be at least 1, not {count}")
    trusted = frozenset(proxies)
    believe = proxy_headers_middleware(
        app,
        trusted_proxy="*",
        trusted_proxy_count=count,
        trusted_proxy_headers=set(TRUSTED_HEADERS),
        clear_untrusted=True,
    )
    distrust = proxy_headers_middleware(app, trusted_proxy=None, clear_untrusted=True)

    def resolve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REMOTE_ADDR") in trusted:
            result: Iterable[bytes] = believe(environ, start_response)
        else:
            result = distrust(environ, start_response)
        return result

    return resolve


def waitress_options() -> dict[str, Any]:
    """waitress options leaving proxy headers to :func:`behind_proxies`."""
    return {"trusted_proxy": None, "clear_untrusted_proxy_headers": False}
