"""Server-side sessions: the cookie holds a random token, the ``Session`` row its sha256.

Also the cookies themselves (one policy for their flags) and the CSRF token a form needs.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import falcon

from gateway.auth.challenges import sha256_hex
from models import Session

#: Cookie of a logged-in browser: a random session token.
SESSION_COOKIE = "hero_session"
#: Cookie binding login challenges to the browser that asked for them.
BINDING_COOKIE = "hero_login"
#: Cookie carrying the CSRF token of a browser that is not logged in (double submit).
CSRF_COOKIE = "hero_csrf"
#: Form field and header a state-changing request carries its CSRF token in.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
#: Lifetime of the binding and pre-login CSRF cookies, in seconds.
LOGIN_COOKIE_MAX_AGE_S = 3600


@dataclass(frozen=True)
class CurrentSession:
    """The session of a request: whose it is and the CSRF token its forms carry."""

    id: int
    address: str
    csrf_token: str
    expires_at: dt.datetime


def new_token() -> str:
    """A random token for a cookie (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


#: How often a session's ``last_seen_at`` is written, at most.
LAST_SEEN_EVERY = dt.timedelta(seconds=60)
#: Longest User-Agent kept with a session.
MAX_USER_AGENT_CHARS = 200


def start_session(
    address: str, *, ttl_s: int, now: dt.datetime, user_agent: str = ""
) -> tuple[str, CurrentSession]:
    """Store a new session for *address*, with the browser's User-Agent (cut short).

    Returns:
        The token for the cookie (only its hash is stored) and the session.
    """
    token = new_token()
    row = Session.create(
        token_hash=sha256_hex(token),
        address=address,
        csrf_token=new_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(seconds=ttl_s),
        user_agent=user_agent[:MAX_USER_AGENT_CHARS],
    )
    return token, _current(row)


def load_session(token: str | None, *, now: dt.datetime) -> CurrentSession | None:
    """The live session whose cookie holds *token*, or None (unknown, ended or expired).

    Notes when it was last seen, at most once every ``LAST_SEEN_EVERY``.
    """
    if not token or len(token) > 128:
        return None
    row = Session.get_or_none(
        (Session.token_hash == sha256_hex(token))
        & Session.ended_at.is_null()
        & (Session.expires_at > now)
    )
    if row is None:
        return None
    if row.last_seen_at is None or now - row.last_seen_at >= LAST_SEEN_EVERY:
        Session.update(last_seen_at=now).where(Session.id == row.id).execute()
    return _current(row)


def end_session(session_id: int, *, now: dt.datetime) -> None:
    """End a session: its cookie no longer logs anyone in."""
    Session.update(ended_at=now).where(
        (Session.id == session_id) & Session.ended_at.is_null()
    ).execute()


def end_all_sessions(address: str) -> int:
    """Delete every session of *address* (log out everywhere); return how many."""
    return int(Session.delete().where(Session.address == address).execute())


def end_one_session(address: str, session_id: int) -> bool:
    """Delete the session *session_id* when it is one of *address*'s."""
    deleted = Session.delete().where((Session.id == session_id) & (Session.address == address))
    return bool(deleted.execute())


def _current(row: Session) -> CurrentSession:
    return CurrentSession(
        id=row.id, address=row.address, csrf_token=row.csrf_token, expires_at=row.expires_at
    )


@dataclass(frozen=True)
class CookiePolicy:
    """How the gateway sets its cookies: HttpOnly, SameSite=Lax, Secure in production."""

    secure: bool

    def set(
        self, resp: falcon.Response, name: str, value: str, *, max_age_s: int, path: str = "/"
    ) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age_s,
            path=path,
            secure=self.secure,
            http_only=True,
            same_site="Lax",
        )

    def clear(self, resp: falcon.Response, name: str, *, path: str = "/") -> None:
        resp.unset_cookie(name, path=path, same_site="Lax")


def cookie(req: falcon.Request, name: str) -> str | None:
    """The first value of cookie *name*, or None."""
    values = req.get_cookie_values(name)
    return values[0] if values else None


def csrf_token_for(req: falcon.Request, resp: falcon.Response, cookies: CookiePolicy) -> str:
    """The CSRF token a form on this page must carry.

    A logged-in browser uses its session's token; any other browser gets one in the
    ``hero_csrf`` cookie (set here when missing) that its forms repeat (double submit).
    """
    session: CurrentSession | None = req.context.get("session")
    if session is not None:
        return session.csrf_token
    token = cookie(req, CSRF_COOKIE)
    if not token or len(token) > 128:
        token = new_token()
        cookies.set(resp, CSRF_COOKIE, token, max_age_s=LOGIN_COOKIE_MAX_AGE_S)
    return token
