"""Console sessions: a fresh Mycelium proof by an operator address opens a short session.

The console session is a ``Session`` row like a user's, stored under the hash of
``console:`` + its token, so neither cookie opens the other's session. Its cookie
(``hero_console``) is sent on ``/admin`` only and lives ``HERO_CONSOLE_SESSION_TTL_S``.

``ConsoleSessions`` runs before the CSRF check: on ``/admin`` paths a visitor who is
neither logged in as an operator address nor holding a console session gets the plain 404
of an unknown path; with a console session, that session's CSRF token guards the forms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import falcon
import nacl.signing
import structlog

from gateway.auth import challenges
from gateway.auth.challenges import sha256_hex
from gateway.auth.options import LoginOptions
from gateway.auth.sessions import (
    LOGIN_COOKIE_MAX_AGE_S,
    CurrentSession,
    cookie,
    end_session,
    new_token,
)
from gateway.resources.auth import status_of
from gateway.templates import Renderer
from models import Session, write_transaction
from wire.times import utcnow

log = structlog.get_logger("hero.console")

#: Cookie of a console session, and of the browser a console login challenge is bound to.
CONSOLE_COOKIE = "hero_console"
CONSOLE_LOGIN_COOKIE = "hero_console_login"
CONSOLE_PATH = "/admin"


@dataclass(frozen=True)
class ConsoleOptions:
    """Who may use the console, what it signs with, how long its sessions live."""

    operator_addresses: tuple[str, ...]
    signing_key: nacl.signing.SigningKey | None = field(default=None, repr=False)
    session_ttl_s: int = 1800
    clock: Callable[[], dt.datetime] = utcnow


def is_console_path(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def _hash(token: str) -> str:
    return sha256_hex("console:" + token)


def load_console_session(token: str | None, *, now: dt.datetime) -> CurrentSession | None:
    if not token or len(token) > 128:
        return None
    row = Session.get_or_none(
        (Session.token_hash == _hash(token))
        & Session.ended_at.is_null()
        & (Session.expires_at > now)
    )
    if row is None:
        return None
    return CurrentSession(
        id=row.id, address=row.address, csrf_token=row.csrf_token, expires_at=row.expires_at
    )


class ConsoleSessions:
    """Middleware: hide ``/admin`` from everyone but operators; pick the console session."""

    def __init__(self, options: ConsoleOptions) -> None:
        self._options = options

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.console = None
        if not is_console_path(req.path):
            return
        operators = self._options.operator_addresses
        user: CurrentSession | None = req.context.get("session")
        req.context.user_session = user
        console = load_console_session(cookie(req, CONSOLE_COOKIE), now=self._options.clock())
        if console is not None and console.address in operators:
            req.context.console = console
            req.context.session = console
            return
        if user is None or user.address not in operators:
            raise falcon.HTTPNotFound()


def operator(req: falcon.Request) -> CurrentSession:
    """The console session of *req*; a login page for an operator who has none yet."""
    console: CurrentSession | None = req.context.get("console")
    if console is None:
        raise falcon.HTTPSeeOther("/admin/login")
    return console


class ConsoleLogin:
    """``GET /admin/login``: the page; ``POST``: a login challenge for the operator's address."""

    def __init__(self, *, options: ConsoleOptions, login: LoginOptions, renderer: Renderer) -> None:
        self._options = options
        self._login = login
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.context.get("console") is not None:
            raise falcon.HTTPSeeOther("/admin")
        user: CurrentSession = req.context.user_session
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "console_login.html", address=user.address, csrf_token=user.csrf_token
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        user: CurrentSession | None = req.context.get("user_session")
        if user is None:  # a console session but no user one: it is already open
            raise falcon.HTTPSeeOther("/admin")
        now = self._login.clock()
        client_ip = self._login.client_ip(req)
        challenges.check_new_challenge(client_ip=client_ip, address=user.address, now=now)
        browser = cookie(req, CONSOLE_LOGIN_COOKIE)
        if not browser or len(browser) > 128:
            browser = new_token()
        row = challenges.create_challenge(
            address=user.address,
            browser_token=browser,
            client_ip=client_ip,
            ttl_s=self._login.challenge_ttl_s,
            now=now,
        )
        self._login.cookies.set(
            resp, CONSOLE_LOGIN_COOKIE, browser, max_age_s=LOGIN_COOKIE_MAX_AGE_S, path=CONSOLE_PATH
        )
        log.info("console.challenge_created", challenge=row.public_id, address=user.address)
        raise falcon.HTTPSeeOther(f"/admin/login/{row.public_id}")


class ConsoleLoginStatus:
    """``GET /admin/login/{id}``: the code to prove; once proven, the console session."""

    def __init__(self, *, options: ConsoleOptions, login: LoginOptions, renderer: Renderer) -> None:
        self._options = options
        self._login = login
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response, challenge_id: str) -> None:
        row = challenges.find_for_browser(challenge_id, cookie(req, CONSOLE_LOGIN_COOKIE))
        if row is None or row.address not in self._options.operator_addresses:
            raise falcon.HTTPNotFound()
        now = self._login.clock()
        state = status_of(row, now)
        if state == "proven":
            token = new_token()
            with write_transaction():
                started = challenges.claim(row.id, now=now)
                if started:
                    Session.create(
                        token_hash=_hash(token),
                        address=row.address,
                        csrf_token=new_token(),
                        created_at=now,
                        expires_at=now + dt.timedelta(seconds=self._options.session_ttl_s),
                    )
            if started:
                self._login.cookies.set(
                    resp,
                    CONSOLE_COOKIE,
                    token,
                    max_age_s=self._options.session_ttl_s,
                    path=CONSOLE_PATH,
                )
                log.info("console.session_started", address=row.address)
                raise falcon.HTTPSeeOther("/admin")
            state = "used"
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "console_login_wait.html",
            code=row.code,
            state=state,
            service_pubkey=self._login.service_pubkey,
        )


class ConsoleLogout:
    """``POST /admin/logout``: end the console session (the user's stays)."""

    def __init__(self, *, options: ConsoleOptions, login: LoginOptions) -> None:
        self._options = options
        self._login = login

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        console: CurrentSession | None = req.context.get("console")
        if console is not None:
            end_session(console.id, now=self._options.clock())
        self._login.cookies.clear(resp, CONSOLE_COOKIE, path=CONSOLE_PATH)
        raise falcon.HTTPSeeOther("/")


def render_context(req: falcon.Request) -> dict[str, Any]:
    """What every console page's header shows."""
    console = operator(req)
    return {"operator": console.address, "csrf_token": console.csrf_token}
