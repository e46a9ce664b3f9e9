"""``/account``: the email and its verification, the email choices, and the browsers
logged in. Email and choices are account state: the gateway sends them to the workers.

A form with a mistake comes back as this page, its value kept and the problem next to
the field; the API gets a 400 whose description starts with the field's name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import falcon

import messages
from gateway import forms
from gateway.account_view import active_sessions, email_choices
from gateway.auth.middleware import require_login, viewer
from gateway.auth.sessions import CurrentSession
from gateway.errors import refuse_form
from gateway.templates import Renderer
from models import Account
from models.accounts import validate_email
from models.email_prefs import OPTIONAL_KINDS
from models.errors import InvalidEmail
from wire.times import utcnow

#: Notices a redirect back to the page may ask for (``?done=``).
NOTICES = {
    "email": "Saved. We sent a link to confirm it; it can take a few seconds to show here.",
    "email-cleared": "Removed. We send you no email.",
    "link": "We sent a new link. Open it within 24 hours.",
    "choices": "Saved. It can take a few seconds to show here.",
}


def render_account(
    renderer: Renderer,
    req: falcon.Request,
    resp: falcon.Response,
    *,
    now: dt.datetime,
    **extra: Any,
) -> None:
    """The account settings page of the logged-in user, with *extra* for its forms."""
    session: CurrentSession = req.context.session
    account = Account.get_or_none(Account.address == session.address)
    resp.content_type = falcon.MEDIA_HTML
    resp.text = renderer.render(
        "account.html",
        viewer=viewer(req),
        account=account,
        choices=email_choices(account),
        sessions=active_sessions(session.address, current_id=session.id, now=now),
        notice=NOTICES.get(req.get_param("done") or "", ""),
        **extra,
    )


class AccountPage:
    """``GET /account``."""

    def __init__(self, *, renderer: Renderer, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self._renderer = renderer
        self._clock = clock

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        render_account(self._renderer, req, resp, now=self._clock())


class _AccountForm:
    """A form of the account page: it sends a message, or shows the page with a problem."""

    def __init__(
        self,
        *,
        send: Callable[..., Any],
        renderer: Renderer,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self._send = send
        self._renderer = renderer
        self._clock = clock

    def _show(self, req: falcon.Request, resp: falcon.Response, **extra: Any) -> None:
        render_account(self._renderer, req, resp, now=self._clock(), **extra)


class EmailChange(_AccountForm):
    """``POST /account/email``: where mail goes (empty removes it); sends ``set_email``."""

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = forms.text(forms.body(req), "email")
        email = None
        if raw:
            try:
                email = validate_email(raw)
            except InvalidEmail as exc:
                detail = str(exc)
                refuse_form(
                    req,
                    resp,
                    title="Check the email address",
                    field="email",
                    problem=detail,
                    show=lambda: self._show(
                        req, resp, email_error=f"This email address {detail}.", email_value=raw
                    ),
                )
                return
        self._send(messages.SetEmail(address=req.context.address, email=email))
        raise falcon.HTTPSeeOther(f"/account?done={'email' if email else 'email-cleared'}#email")


class EmailResend:
    """``POST /account/email/link``: send a new verification link (at most one a minute)."""

    def __init__(self, *, send: Callable[..., Any]) -> None:
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._send(messages.SendEmailLink(address=req.context.address))
        raise falcon.HTTPSeeOther("/account?done=link#email")


class EmailChoices(_AccountForm):
    """``POST /account/choices``: the optional kinds of email wanted (``want``, repeated)."""

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = forms.body(req).get("want", [])
        wanted = [raw] if isinstance(raw, str) else raw
        unknown = [w for w in wanted if not isinstance(w, str) or w not in OPTIONAL_KINDS]
        if unknown or not isinstance(wanted, list):
            problem = f"Choose among {', '.join(OPTIONAL_KINDS)}"
            refuse_form(
                req,
                resp,
                title="Check your choices",
                field="want",
                problem=problem,
                show=lambda: self._show(req, resp, choices_error=problem),
            )
            return
        muted = sorted(set(OPTIONAL_KINDS) - set(wanted))
        self._send(messages.SetEmailChoices(address=req.context.address, muted=muted))
        raise falcon.HTTPSeeOther("/account?done=choices#choices")
