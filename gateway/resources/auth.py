"""Login over HTTP: challenges, the key proof, starting the session, the session, logout."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import falcon
import structlog

import messages
from gateway import forms
from gateway.auth import challenges
from gateway.auth.middleware import require_login, safe_next, viewer
from gateway.auth.options import LoginOptions
from gateway.auth.proofs import (
    LOGIN_TOPIC,
    MAX_FAILED_PROOFS_PER_CHALLENGE,
    ChallengeClosed,
    ChallengeNotFound,
    ProofRefused,
    RateLimited,
    Verdict,
    judge,
    open_key_proof,
)
from gateway.auth.sessions import (
    BINDING_COOKIE,
    LOGIN_COOKIE_MAX_AGE_S,
    SESSION_COOKIE,
    CurrentSession,
    cookie,
    end_session,
    new_token,
    start_session,
)
from gateway.errors import wants_json
from gateway.resources.login import CLOSED, login_refused, render_login
from gateway.templates import Renderer
from models import Account, LoginChallenge, write_transaction
from models.errors import InvalidAddress
from wire.address import canonical_address
from wire.times import iso_z

log = structlog.get_logger("hero.login")

#: Path the binding cookie is sent on: only the challenge routes need it.
BINDING_PATH = "/auth/"


def iso(moment: dt.datetime) -> str:
    """A time as ISO 8601 with a Z, to the second (``wire.times.iso_z``)."""
    return iso_z(moment)


def status_of(row: LoginChallenge, now: dt.datetime) -> str:
    """``pending``, ``proven``, ``expired`` or ``used``."""
    if row.used_at is not None:
        return "used"
    if row.proven_at is not None:
        return "proven"
    return "expired" if now >= row.expires_at else "pending"


class Challenges:
    """``POST /auth/challenges``: a one-time code for an address, bound to this browser."""

    def __init__(self, *, login: LoginOptions, renderer: Renderer) -> None:
        self._login = login
        self._renderer = renderer

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = forms.body(req)
        typed = forms.text(data, "address", max_chars=200)
        now = self._login.clock()
        client_ip = self._login.client_ip(req)
        try:
            try:
                address = canonical_address(typed)
            except InvalidAddress as exc:
                raise InvalidAddress(f"address: {exc}") from None
            challenges.check_new_challenge(client_ip=client_ip, address=address, now=now)
        except (InvalidAddress, RateLimited) as exc:
            if wants_json(req):
                raise
            next_path = safe_next(forms.text(data, "next"))
            login_refused(self._renderer, self._login, req, resp, exc, typed, next_path)
            return
        browser = cookie(req, BINDING_COOKIE)
        if not browser or len(browser) > 128:
            browser = new_token()
        row = challenges.create_challenge(
            address=address,
            browser_token=browser,
            client_ip=client_ip,
            ttl_s=self._login.challenge_ttl_s,
            now=now,
        )
        self._login.cookies.set(
            resp, BINDING_COOKIE, browser, max_age_s=LOGIN_COOKIE_MAX_AGE_S, path=BINDING_PATH
        )
        log.info("login.challenge_created", challenge=row.public_id, address=address)
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {
                "id": row.public_id,
                "code": row.code,
                "service_pubkey": self._login.service_pubkey,
                "topic": LOGIN_TOPIC.decode(),
                "expires_at": iso(row.expires_at),
            }
            return
        query = urlencode({"next": safe_next(forms.text(data, "next"))})
        raise falcon.HTTPSeeOther(f"/auth/challenges/{row.public_id}?{query}")


class ChallengeStatus:
    """``GET /auth/challenges/{id}``: for the bound browser only; starts its session once."""

    def __init__(
        self,
        *,
        login: LoginOptions,
        send: messages.Send,
        renderer: Renderer,
        public_url: str,
    ) -> None:
        self._login = login
        self._send = send
        self._renderer = renderer
        self._public_url = public_url

    def on_get(self, req: falcon.Request, resp: falcon.Response, challenge_id: str) -> None:
        row = challenges.find_for_browser(challenge_id, cookie(req, BINDING_COOKIE))
        next_path = safe_next(req.get_param("next"))
        if row is None:
            if wants_json(req):
                raise ChallengeNotFound(
                    "No login with this id is waiting in this browser. Start again at /login."
                )
            resp.status = falcon.HTTP_404
            render_login(
                self._renderer,
                self._login,
                req,
                resp,
                next_path=next_path,
                problem=CLOSED["unknown"],
            )
            return
        now = self._login.clock()
        state = status_of(row, now)
        if state == "proven":
            state = "logged_in" if self._start_session(req, resp, row, now) else "used"
        if wants_json(req):
            resp.media = {
                "id": row.public_id,
                "status": state,
                "address": row.address,
                "expires_at": iso(row.expires_at),
                **({"redirect": next_path} if state == "logged_in" else {}),
            }
            return
        if state == "logged_in":
            raise falcon.HTTPSeeOther(next_path)
        session: CurrentSession | None = req.context.get("session")
        if state == "used" and session is not None and session.address == row.address:
            raise falcon.HTTPSeeOther(next_path)  # a second look after logging in
        if state == "pending" and row.failed_attempts >= MAX_FAILED_PROOFS_PER_CHALLENGE:
            state = "refused"
        if state != "pending":
            render_login(
                self._renderer,
                self._login,
                req,
                resp,
                address=row.address,
                next_path=next_path,
                problem=CLOSED[state],
            )
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "login_wait.html",
            viewer=viewer(req),
            challenge=row,
            state=state,
            expires_at=iso(row.expires_at),
            service_pubkey=self._login.service_pubkey,
            topic=LOGIN_TOPIC.decode(),
            public_url=self._public_url,
            check_url=f"/auth/challenges/{row.public_id}?{urlencode({'next': next_path})}",
        )

    def _start_session(
        self, req: falcon.Request, resp: falcon.Response, row: LoginChallenge, now: dt.datetime
    ) -> bool:
        # The account is the workers' to create; confirmed before anything is marked used.
        self._send(messages.EnsureAccount(address=row.address))
        with write_transaction():
            if not challenges.claim(row.id, now=now):
                return False
            token, _ = start_session(
                row.address,
                ttl_s=self._login.session_ttl_s,
                now=now,
                user_agent=req.user_agent or "",
            )
            previous: CurrentSession | None = req.context.get("session")
            if previous is not None:
                end_session(previous.id, now=now)
        self._login.cookies.set(resp, SESSION_COOKIE, token, max_age_s=self._login.session_ttl_s)
        log.info("login.session_started", challenge=row.public_id, address=row.address)
        return True


class ChallengeProof:
    """``POST /auth/challenges/{id or code}/proof``: the key proof (``pubkey``, ``box`` hex).

    Exempt from CSRF: the box is the proof, and it starts no session by itself.
    """

    csrf_exempt = True

    def __init__(self, *, login: LoginOptions) -> None:
        self._login = login

    def on_post(self, req: falcon.Request, resp: falcon.Response, challenge_id: str) -> None:
        row = challenges.find(challenge_id)
        if row is None:
            raise ChallengeNotFound("No login has this id or code; check it on the login page.")
        data = forms.body(req)
        now = self._login.clock()
        current = challenges.view(row)
        challenges.check_proof_attempts(current, now=now)
        try:
            public_key, code = open_key_proof(
                self._login.service_key,
                pubkey_hex=forms.text(data, "pubkey"),
                box_hex=forms.text(data, "box"),
            )
        except ProofRefused as exc:
            verdict = Verdict(False, str(exc), row.id, failed=True)
        else:
            verdict = judge(current, code=code, public_key=public_key, now=now)
        proven = challenges.apply_verdict(verdict, proven_by="key", now=now)
        log.info(
            "login.key_proof",
            outcome="proven" if proven else "refused",
            reason=None if proven else verdict.reason,
            challenge=row.public_id,
        )
        if verdict.failed:
            raise ProofRefused(f"{verdict.reason[:1].upper()}{verdict.reason[1:]}.")
        if not proven:
            raise ChallengeClosed(f"{verdict.reason[:1].upper()}{verdict.reason[1:]}.")
        resp.media = {"id": row.public_id, "status": "proven", "address": row.address}


class ServiceKey:
    """``GET /auth/service``: the service's public key and the login topic (public facts)."""

    def __init__(self, *, login: LoginOptions) -> None:
        self._login = login

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"service_pubkey": self._login.service_pubkey, "topic": LOGIN_TOPIC.decode()}


class SessionInfo:
    """``GET /auth/session``: who is logged in, and the CSRF token for their requests."""

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        session: CurrentSession = req.context.session
        resp.media = {
            "address": session.address,
            "csrf_token": session.csrf_token,
            "expires_at": iso(session.expires_at),
            "account_ready": Account.select().where(Account.address == session.address).exists(),
        }


class Logout:
    """``POST /logout``: end this browser's session (CSRF checked by the middleware)."""

    def __init__(self, *, login: LoginOptions) -> None:
        self._login = login

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        session: CurrentSession | None = req.context.get("session")
        if session is not None:
            end_session(session.id, now=self._login.clock())
            log.info("login.logout", address=session.address)
        self._login.cookies.clear(resp, SESSION_COOKIE)
        if wants_json(req):
            resp.media = {"status": "logged_out"}
            return
        raise falcon.HTTPSeeOther("/login")
