"""Identity verification pages, the gate's refusal page, the sandbox, and iDenfy's webhook.

The landing page after the provider is never taken as proof: the verdict comes only from
a signed webhook, recorded by ``record_kyc_result``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from adapters.kyc.base import KycProvider, KycUnavailable
from adapters.kyc.sandbox import OUTCOMES, SandboxKycProvider
from gateway import forms
from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.resources.webhooks import Webhook
from gateway.templates import Renderer
from models import Account
from models.kyc import KycVerification
from models.kyc_gate import KycClosed, gate_refusal, start_session, status_of
from wire.times import utcnow


def _account(req: falcon.Request) -> Account:
    account = Account.get_or_none(Account.address == req.context.address)
    if account is None:
        raise falcon.HTTPConflict(
            title="Account being set up",
            description="Your account is still being set up; reload the page in a moment.",
        )
    return account


def refuse_unverified(req: falcon.Request, action: str, *, required_for: str) -> None:
    """Stop *action* (``plan`` or ``topup``) when *required_for* (``HERO_KYC_REQUIRED_FOR``)
    makes it need a verification the viewer lacks: pages go to the verification page, which
    starts or resumes one; the API gets a 403.

    The actor that carries the action out checks again, so a forged form cannot pass.
    """
    account = Account.get_or_none(Account.address == req.context.address)
    message = gate_refusal(account, action, required_for=required_for) if account else None
    if message is None:
        return
    if wants_json(req):
        raise falcon.HTTPForbidden(title="Identity verification needed", description=message)
    raise falcon.HTTPSeeOther(f"/kyc?need={action}")


def add_kyc_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    provider: KycProvider,
    send: Callable[..., Any],
    renderer: Renderer,
    public_url: str,
    support: str,
    required_for: str,
) -> None:
    """The verification pages, iDenfy's webhook route, and the sandbox page if it is on;
    *required_for* is ``HERO_KYC_REQUIRED_FOR``."""
    app.add_route(
        "/kyc",
        KycPage(
            provider=provider,
            renderer=renderer,
            public_url=public_url,
            support=support,
            required_for=required_for,
        ),
    )
    app.add_route("/kyc/return", KycReturn())
    app.add_route("/webhooks/idenfy", KycWebhook(provider=provider, send=send))
    if isinstance(provider, SandboxKycProvider):
        app.add_route(
            "/kyc/sandbox/{scan_ref}", KycSandboxPage(sandbox=provider, renderer=renderer)
        )


class KycPage:
    """``GET /kyc``: the viewer's verification; ``POST /kyc`` starts or resumes one."""

    def __init__(
        self,
        *,
        provider: KycProvider,
        renderer: Renderer,
        public_url: str,
        support: str,
        required_for: str,
    ) -> None:
        self._provider = provider
        self._renderer = renderer
        self._public_url = public_url
        self._support = support
        self._required_for = required_for

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        account = Account.get_or_none(Account.address == req.context.address)
        state = (
            status_of(account, required_for=self._required_for)
            if account
            else {"status": "none", "may_start": False}
        )
        need = req.get_param("need")
        refusal = (
            gate_refusal(account, need, required_for=self._required_for)
            if account and need in ("plan", "topup")
            else None
        )
        resp.cache_control = ["no-store"]
        if wants_json(req):
            resp.media = state
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "kyc.html", viewer=viewer(req), kyc=state, refusal=refusal, support=self._support
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        forms.body(req)  # the CSRF token was checked by the middleware
        account = _account(req)
        try:
            url = start_session(
                account,
                self._provider,
                return_url=f"{self._public_url}/kyc/return",
                now=utcnow(),
            )
        except KycClosed:
            raise falcon.HTTPSeeOther("/kyc") from None
        except KycUnavailable as exc:
            raise falcon.HTTPBadGateway(
                title="Verification unavailable",
                description=f"{exc}. Nothing was started; please try again in a minute.",
            ) from None
        if wants_json(req):
            resp.status = falcon.HTTP_201
            resp.media = {"redirect_url": url}
            return
        raise falcon.HTTPSeeOther(url)


class KycReturn:
    """``GET /kyc/return``: where the provider sends the browser back; shows the state."""

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPSeeOther("/kyc")


class KycSandboxPage:
    """``GET`` shows Approve and Deny; ``POST`` posts the signed result to the real webhook
    route. Development only; only the owner of the session sees it."""

    def __init__(self, *, sandbox: SandboxKycProvider, renderer: Renderer) -> None:
        self._sandbox = sandbox
        self._renderer = renderer

    def _owned(self, req: falcon.Request, scan_ref: str) -> KycVerification:
        row = (
            KycVerification.select()
            .join(Account)
            .where(
                (KycVerification.scan_ref == scan_ref)
                & (Account.address == req.context.address)
                & (KycVerification.provider == "sandbox")
            )
            .first()
        )
        if row is None:
            raise falcon.HTTPNotFound(title="No such verification", description="scan_ref: unknown")
        return row  # type: ignore[no-any-return]

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, scan_ref: str) -> None:
        row = self._owned(req, scan_ref)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "kyc_sandbox.html", viewer=viewer(req), scan_ref=scan_ref, status=row.status
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response, scan_ref: str) -> None:
        outcome = forms.text(forms.body(req), "outcome")
        if outcome not in OUTCOMES:
            raise falcon.HTTPBadRequest(
                title="Unknown outcome", description="outcome: approve or deny"
            )
        row = self._owned(req, scan_ref)
        if row.status == "pending":
            try:
                self._sandbox.decide(scan_ref=scan_ref, client_id=row.client_id, outcome=outcome)
            except KycUnavailable as exc:
                raise falcon.HTTPBadGateway(title="Sandbox failed", description=str(exc)) from None
        raise falcon.HTTPSeeOther("/kyc")


class KycWebhook(Webhook):
    """``POST /webhooks/idenfy``: signature first, 200 only after the broker confirmed."""

    def __init__(self, *, provider: KycProvider, send: Callable[..., Any]) -> None:
        super().__init__(providers={"idenfy": provider}, send=send)  # type: ignore[dict-item]

    def on_post(  # type: ignore[override]
        self, req: falcon.Request, resp: falcon.Response
    ) -> None:
        super().on_post(req, resp, "idenfy")
