"""The sandbox provider's checkout page (development only)."""

from __future__ import annotations

import falcon

from adapters.payments.sandbox import SandboxProvider
from gateway.auth.middleware import require_login, viewer
from gateway.resources.topup import owned_topup
from gateway.templates import Renderer


class SandboxCheckout:
    """``GET`` shows the pretend checkout; ``POST`` pays it through the real webhook route.

    Only the owner's session sees or pays it (the form carries the session's CSRF token).
    """

    def __init__(self, *, sandbox: SandboxProvider, renderer: Renderer) -> None:
        self._sandbox = sandbox
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = owned_topup(req, topup_id)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "sandbox_checkout.html",
            viewer=viewer(req),
            topup_id=topup_id,
            topup=topup,
            address=topup.account.address if topup else None,
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response, topup_id: str) -> None:
        topup = owned_topup(req, topup_id)
        if topup is None:
            raise falcon.HTTPConflict(
                title="Checkout not ready",
                description="This top-up is still being set up; reload the page in a moment.",
            )
        if topup.status == "started":
            self._sandbox.complete(
                topup_id=topup_id, address=topup.account.address, amount_cents=topup.amount_cents
            )
        raise falcon.HTTPSeeOther(f"/topups/{topup_id}")
