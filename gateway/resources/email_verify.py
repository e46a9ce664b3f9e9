"""``/account/email/verify``: the page an email's link opens, and its confirm button.

The link works without a login (it may be opened on another device): the token is the
proof. Opening it only shows a button, so a mail scanner that fetches links confirms
nothing; the button sends ``verify_email`` with the token's hash, and the page then
waits, refreshing, until the worker has marked the email verified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

import messages
from gateway import forms
from gateway.auth.middleware import viewer
from gateway.auth.options import LoginOptions
from gateway.auth.sessions import csrf_token_for
from gateway.errors import wants_json
from gateway.templates import Renderer
from models import Account
from models.email_prefs import EmailVerification, token_hash
from wire.times import utcnow

#: Refreshes (one a second) of the waiting page before it stops.
WAIT_REFRESHES = 30
#: Longest token read from a link (they are 43 characters).
MAX_TOKEN_CHARS = 128


def link_state(hashed: str) -> tuple[str, str]:
    """What the link whose token hashes to *hashed* is now, and the email it is for:
    ``open``, ``verified``, ``used``, ``expired``, ``changed`` or ``unknown``."""
    link = EmailVerification.get_or_none(EmailVerification.token_hash == hashed)
    if link is None:
        return "unknown", ""
    account = Account.get_by_id(link.account_id)
    if link.used_at is not None:
        verified = account.email == link.email and account.email_verified_at is not None
        return ("verified" if verified else "used"), link.email
    if utcnow() >= link.expires_at:
        return "expired", link.email
    if account.email != link.email:
        return "changed", link.email
    return "open", link.email


def _hash_of(token: str) -> str:
    return token_hash(token) if 0 < len(token) <= MAX_TOKEN_CHARS else ""


class EmailVerify:
    """``GET`` shows the link's state (and the button while it is open); ``POST`` sends
    ``verify_email`` and goes to the waiting page (``?check=<hash>``)."""

    def __init__(
        self, *, send: Callable[..., Any], renderer: Renderer, login: LoginOptions
    ) -> None:
        self._send = send
        self._renderer = renderer
        self._login = login

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check = req.get_param("check") or ""
        token = req.get_param("token") or ""
        hashed = check if len(check) == 64 else _hash_of(token)
        state, email = link_state(hashed) if hashed else ("unknown", "")
        waited = req.get_param_as_int("waited", min_value=0, max_value=10**6, default=0) or 0
        waiting = bool(check) and state == "open" and waited < WAIT_REFRESHES
        if wants_json(req):
            resp.media = {"state": state}
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "email_verify.html",
            viewer=viewer(req),
            state=state,
            email=email,
            token=token if not check else "",
            waiting=waiting,
            next_refresh=f"/account/email/verify?check={hashed}&waited={waited + 1}",
            csrf_token=csrf_token_for(req, resp, self._login.cookies),
        )

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        hashed = _hash_of(forms.text(forms.body(req), "token", max_chars=MAX_TOKEN_CHARS))
        state = link_state(hashed)[0] if hashed else "unknown"
        if state != "open":
            raise falcon.HTTPSeeOther(f"/account/email/verify?check={hashed or '0' * 64}")
        self._send(messages.VerifyEmail(hashed_token=hashed))
        raise falcon.HTTPSeeOther(f"/account/email/verify?check={hashed}")
