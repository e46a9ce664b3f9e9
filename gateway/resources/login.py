"""The login page, and the home page a login lands on."""

from __future__ import annotations

import falcon

from gateway.auth.middleware import require_login, safe_next, viewer
from gateway.auth.options import LoginOptions
from gateway.auth.sessions import csrf_token_for
from gateway.templates import Renderer
from models import Account, Billing


class LoginPage:
    """``GET /login``: ask for the address to log in as."""

    def __init__(self, *, login: LoginOptions, renderer: Renderer) -> None:
        self._login = login
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        next_path = safe_next(req.get_param("next"))
        if req.context.get("session") is not None:
            raise falcon.HTTPSeeOther(next_path)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "login.html",
            viewer=None,
            csrf_token=csrf_token_for(req, resp, self._login.cookies),
            address=req.get_param("address") or "",
            next_path=next_path,
        )


class Home:
    """``GET /``: the logged-in user's balance, or that their account is being set up."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = Account.get_or_none(Account.address == req.context.address)
        billing = Billing.get_or_none(Billing.account == account) if account else None
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "home.html",
            viewer=viewer(req),
            account_ready=account is not None,
            balance_cents=billing.balance_cents if billing else 0,
        )
