"""The login page, and the login problems it shows beside the address field.

A login that cannot go on (a bad address, too many attempts, a code expired, used,
refused or not started in this browser) comes back as the login page with the address
kept and the problem in plain words next to the field.
"""

from __future__ import annotations

import falcon

from gateway.auth.middleware import safe_next
from gateway.auth.options import LoginOptions
from gateway.auth.proofs import RateLimited
from gateway.auth.sessions import csrf_token_for
from gateway.templates import Renderer
from models.errors import InvalidAddress

#: A Mycelium address, as the login page shows one.
EXAMPLE_ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"

#: What the login page says about a login code that no longer works, by its state.
CLOSED = {
    "expired": "That code has expired: codes work for a few minutes. Get a new code.",
    "used": "That code was already used: each code logs in once. Get a new code.",
    "refused": "Too many wrong proofs were sent for that code, so it no longer works. "
    "Get a new code.",
    "unknown": "No login with that link is waiting in this browser. Get a new code.",
}


def render_login(
    renderer: Renderer,
    login: LoginOptions,
    req: falcon.Request,
    resp: falcon.Response,
    *,
    address: str = "",
    next_path: str = "/",
    problem: str = "",
) -> None:
    """The login page with *address* in its field and *problem* beside it."""
    resp.content_type = falcon.MEDIA_HTML
    resp.text = renderer.render(
        "login.html",
        viewer=None,
        csrf_token=csrf_token_for(req, resp, login.cookies),
        address=address,
        next_path=next_path,
        problem=problem,
    )


def login_refused(
    renderer: Renderer,
    login: LoginOptions,
    req: falcon.Request,
    resp: falcon.Response,
    exc: InvalidAddress | RateLimited,
    typed: str,
    next_path: str,
) -> None:
    """The login page again after a refused start: the address as typed, the problem
    beside it (400, or 429 with ``Retry-After``)."""
    if isinstance(exc, RateLimited):
        resp.status = falcon.HTTP_429
        resp.set_header("Retry-After", str(exc.retry_after_s))
        problem = str(exc)
    else:
        resp.status = falcon.HTTP_400
        detail = str(exc).removeprefix("address: ")
        problem = (
            "Enter your Mycelium address."
            if not typed
            else f"Check the address: {detail}. It looks like {EXAMPLE_ADDRESS}."
        )
    render_login(renderer, login, req, resp, address=typed, next_path=next_path, problem=problem)


class LoginPage:
    """``GET /login``: ask for the address to log in as."""

    def __init__(self, *, login: LoginOptions, renderer: Renderer) -> None:
        self._login = login
        self._renderer = renderer

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        next_path = safe_next(req.get_param("next"))
        if req.context.get("session") is not None:
            raise falcon.HTTPSeeOther(next_path)
        render_login(
            self._renderer,
            self._login,
            req,
            resp,
            address=(req.get_param("address") or "")[:200],
            next_path=next_path,
        )
