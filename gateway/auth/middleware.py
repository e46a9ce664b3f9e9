"""Who is asking (the session middleware), CSRF checks, and the ``require_login`` hook.

CSRF: every POST (and PUT, PATCH, DELETE) carries a token in the ``csrf_token`` form
field or the ``X-CSRF-Token`` header, equal to the session's token, or for a browser
that is not logged in to its ``hero_csrf`` cookie. Exempt, because they carry their own
proof and no browser cookie authorises them:

- ``/webhooks/*``: the provider's signature over the raw body;
- ``POST /auth/challenges/{id}/proof``: the NaCl box is the proof; it starts no session
  (only the bound browser's own ``GET`` does), so a forged request gains nothing.
"""

from __future__ import annotations

import datetime as dt
import hmac
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import falcon

from gateway.auth.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentSession,
    cookie,
    load_session,
)
from gateway.errors import wants_json
from wire.times import utcnow

#: Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths that never look at the session (no database read for them).
SESSIONLESS_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics", "/webhooks/")


class Sessions:
    """Set ``req.context.session`` and ``req.context.address`` from the session cookie."""

    def __init__(self, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._clock = clock

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.session = None
        req.context.address = None
        if req.path.startswith(SESSIONLESS_PREFIXES):
            return
        token = cookie(req, SESSION_COOKIE)
        if not token:
            return
        session = load_session(token, now=self._clock())
        if session is not None:
            req.context.session = session
            req.context.address = session.address


class CsrfProtection:
    """Refuse a state-changing request without the right CSRF token (403)."""

    def __init__(self, *, exempt_prefixes: tuple[str, ...] = ("/webhooks/",)) -> None:
        self._exempt_prefixes = exempt_prefixes

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if req.method in SAFE_METHODS or resource is None:
            return
        if req.path.startswith(self._exempt_prefixes) or getattr(resource, "csrf_exempt", False):
            return
        session: CurrentSession | None = req.context.get("session")
        expected = session.csrf_token if session is not None else cookie(req, CSRF_COOKIE)
        given = req.get_header(CSRF_HEADER) or _form_token(req)
        if not (expected and given and hmac.compare_digest(expected.encode(), given.encode())):
            raise falcon.HTTPForbidden(
                title="This form has expired",
                description="The page you sent it from is too old or was not ours. "
                "Reload the page and try again.",
            )


def _form_token(req: falcon.Request) -> str | None:
    if not (req.content_type or "").startswith(falcon.MEDIA_URLENCODED):
        return None
    form = req.get_media(default_when_empty={}) or {}
    value = form.get(CSRF_FIELD) if isinstance(form, dict) else None
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value else None


def require_login(
    req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
) -> None:
    """Hook: pages send a visitor who is not logged in to /login; the API answers 401."""
    if req.context.get("session") is not None:
        return
    if wants_json(req):
        raise falcon.HTTPUnauthorized(
            title="Log in first", description="This needs a logged-in session; log in at /login."
        )
    raise falcon.HTTPSeeOther("/login?" + urlencode({"next": req.relative_uri}))


def viewer(req: falcon.Request) -> dict[str, str] | None:
    """What the page header shows of the logged-in user (address, logout CSRF token)."""
    session: CurrentSession | None = req.context.get("session")
    if session is None:
        return None
    return {"address": session.address, "csrf_token": session.csrf_token, "path": req.path}


#: Where a login goes when ``next`` is missing or not a path of this site: the dashboard.
DEFAULT_NEXT = "/"
#: Longest ``next`` kept; a longer one falls back to the dashboard.
MAX_NEXT_CHARS = 2048


def safe_next(target: str | None) -> str:
    """A path of this site to go to after login; the dashboard for anything else.

    Kept only when it starts with a single ``/``, is printable ASCII with no blank or
    backslash, and, percent-decoded until it stops changing, still starts with a single
    ``/`` and holds no control character, blank or backslash (browsers drop a tab or a
    newline and read ``\\`` as ``/``, so ``/%09/evil.example`` would be another site).

    >>> safe_next("/topups/HERO1?x=1"), safe_next("/%09/evil.example"), safe_next(None)
    ('/topups/HERO1?x=1', '/', '/')
    """
    if not target or len(target) > MAX_NEXT_CHARS or not _is_local_path(target):
        return DEFAULT_NEXT
    decoded = target
    for _ in range(4):  # nested encodings (%2509) unwrap in a few rounds
        decoded, previous = unquote(decoded), decoded
        if decoded == previous:
            break
        if not _is_local_path(decoded, printable_ascii=False):
            return DEFAULT_NEXT
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return target


def _is_local_path(text: str, *, printable_ascii: bool = True) -> bool:
    if not text.startswith("/") or text.startswith("//") or "\\" in text:
        return False
    if printable_ascii and not all("!" <= ch <= "~" for ch in text):
        return False
    return not any(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in text)
