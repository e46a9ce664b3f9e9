"""Ending sessions from the account page: one browser, or every browser ("log out
everywhere"). Session rows are the gateway's own, so it deletes them itself."""

from __future__ import annotations

import falcon
import structlog

from gateway.auth.middleware import require_login
from gateway.auth.options import LoginOptions
from gateway.auth.sessions import SESSION_COOKIE, CurrentSession, end_all_sessions, end_one_session
from gateway.errors import wants_json

log = structlog.get_logger("hero.login")


class SessionEnd:
    """``POST /account/sessions/{session_id}/end``: log one of your browsers out."""

    def __init__(self, *, login: LoginOptions) -> None:
        self._login = login

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response, session_id: int) -> None:
        session: CurrentSession = req.context.session
        if not end_one_session(session.address, session_id):
            raise falcon.HTTPNotFound(
                title="Session not found", description="None of your sessions has this number."
            )
        log.info("login.session_ended", address=session.address, ended=session_id)
        if session_id == session.id:
            self._login.cookies.clear(resp, SESSION_COOKIE)
            raise falcon.HTTPSeeOther("/login")
        if wants_json(req):
            resp.media = {"ended": session_id}
            return
        raise falcon.HTTPSeeOther("/account#sessions")


class SessionsEndAll:
    """``POST /account/sessions/end-all``: delete every session of the account, this one
    included."""

    def __init__(self, *, login: LoginOptions) -> None:
        self._login = login

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        session: CurrentSession = req.context.session
        count = end_all_sessions(session.address)
        log.info("login.logged_out_everywhere", address=session.address, sessions=count)
        self._login.cookies.clear(resp, SESSION_COOKIE)
        if wants_json(req):
            resp.media = {"ended": count}
            return
        raise falcon.HTTPSeeOther("/login?ended=all")
