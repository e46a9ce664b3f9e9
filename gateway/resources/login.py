"""The login page."""

from __future__ import annotations

import falcon

from gateway.auth.middleware import safe_next
from gateway.auth.options import LoginOptions
from gateway.auth.sessions import csrf_token_for
from gateway.templates import Renderer


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
