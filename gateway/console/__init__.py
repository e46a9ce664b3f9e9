"""The operator console at ``/admin``: Mycelium login for listed operator addresses, views
of accounts, payments and the pipeline, and changes signed like ``hero-admin``'s.

Everyone else gets the plain 404 of any unknown path, for ``/admin`` and everything under it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from gateway.auth.options import LoginOptions
from gateway.console.actions import add_action_routes
from gateway.console.session import ConsoleLogin, ConsoleLoginStatus, ConsoleLogout, ConsoleOptions
from gateway.console.views import add_view_routes
from gateway.policy import Policy
from gateway.templates import Renderer

__all__ = ["ConsoleOptions", "add_console"]


def add_console(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    options: ConsoleOptions,
    login: LoginOptions,
    send: Callable[..., Any],
    renderer: Renderer,
    policy: Policy,
) -> None:
    """Route ``/admin`` and its pages (the ``ConsoleSessions`` middleware guards them)."""
    app.add_route("/admin/login", ConsoleLogin(options=options, login=login, renderer=renderer))
    app.add_route(
        "/admin/login/{challenge_id}",
        ConsoleLoginStatus(options=options, login=login, renderer=renderer),
    )
    app.add_route("/admin/logout", ConsoleLogout(options=options, login=login))
    add_view_routes(app, renderer=renderer, options=options, policy=policy)
    add_action_routes(app, renderer=renderer, options=options, send=send)
