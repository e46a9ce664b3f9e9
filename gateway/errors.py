"""Errors as the client wants them: JSON on the API and webhooks, HTML on pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon
import structlog

from gateway.auth.proofs import (
    ChallengeClosed,
    ChallengeNotFound,
    LoginError,
    ProofRefused,
    RateLimited,
)
from gateway.templates import Renderer
from models.errors import (
    AccountNotFound,
    BrokerUnavailable,
    InvalidAddress,
    PaymentError,
    ProviderUnavailable,
)

log = structlog.get_logger("hero.gateway")

#: Paths answered in JSON whatever the client accepts.
JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz")


def wants_json(req: falcon.Request) -> bool:
    if req.path.startswith(JSON_PREFIXES):
        return True
    return req.client_accepts_json and not req.client_accepts("text/html")


def refuse_form(
    req: falcon.Request,
    resp: falcon.Response,
    *,
    title: str,
    field: str,
    problem: str,
    show: Callable[[], None],
) -> None:
    """Refuse a form: the API gets a 400 *title* described ``"<field>: <problem>"``; a
    browser gets the page again (*show*), with status 400."""
    if wants_json(req):
        raise falcon.HTTPBadRequest(title=title, description=f"{field}: {problem}") from None
    resp.status = falcon.HTTP_400
    show()


def make_serializer(renderer: Renderer) -> Any:
    def serialize(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
        if wants_json(req):
            resp.content_type = falcon.MEDIA_JSON
            resp.media = {"title": exc.title, "description": exc.description}
            return
        resp.content_type = falcon.MEDIA_HTML
        from gateway.auth.middleware import viewer  # the auth package imports this module

        resp.text = renderer.render(
            "error.html",
            title=exc.title,
            description=exc.description,
            status=exc.status,
            viewer=viewer(req),
        )

    return serialize


def add_domain_error_handlers(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    """Map domain errors to HTTP errors, once for the whole app."""

    def handle(
        req: falcon.Request, resp: falcon.Response, ex: Exception, params: dict[str, Any]
    ) -> None:
        if isinstance(ex, BrokerUnavailable):
            log.warning("broker.unavailable", error=str(ex))
            raise falcon.HTTPServiceUnavailable(
                title="Try again shortly",
                description="The service could not queue your request; nothing was changed.",
                retry_after=5,
            )
        if isinstance(ex, ProviderUnavailable):
            raise falcon.HTTPBadGateway(
                title="Payment provider unavailable",
                description=f"{ex} Nothing was charged; please try again in a minute.",
            )
        if isinstance(ex, PaymentError):
            raise falcon.HTTPBadGateway(title="Payment provider refused", description=str(ex))
        if isinstance(ex, AccountNotFound):
            raise falcon.HTTPNotFound(title="Unknown account", description=str(ex))
        if isinstance(ex, InvalidAddress):
            raise falcon.HTTPBadRequest(title="Invalid address", description=str(ex))
        if isinstance(ex, LoginError):
            raise _login_error(ex)
        raise ex

    for error in (
        BrokerUnavailable,
        ProviderUnavailable,
        PaymentError,
        AccountNotFound,
        InvalidAddress,
        LoginError,
    ):
        app.add_error_handler(error, handle)


def _login_error(ex: LoginError) -> falcon.HTTPError:
    if isinstance(ex, RateLimited):
        return falcon.HTTPTooManyRequests(
            title="Too many attempts", description=str(ex), retry_after=ex.retry_after_s
        )
    if isinstance(ex, ChallengeNotFound):
        return falcon.HTTPNotFound(title="Login not found", description=str(ex))
    if isinstance(ex, ProofRefused):
        return falcon.HTTPForbidden(title="Proof refused", description=str(ex))
    if isinstance(ex, ChallengeClosed):
        return falcon.HTTPConflict(title="This login is closed", description=str(ex))
    return falcon.HTTPBadRequest(title="Login refused", description=str(ex))
