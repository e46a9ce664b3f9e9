"""``create_app``: the gateway, built from arguments only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import falcon

from adapters.kyc import KycProvider
from adapters.payments import PaymentProvider
from adapters.payments.base import MAX_WEBHOOK_BYTES
from adapters.payments.sandbox import SandboxProvider
from gateway.auth.middleware import CsrfProtection, Sessions
from gateway.auth.options import LoginOptions
from gateway.console import ConsoleOptions, add_console
from gateway.console.session import ConsoleSessions
from gateway.errors import add_domain_error_handlers, make_serializer
from gateway.forms import media_handlers
from gateway.middleware import (
    BodyLimit,
    DatabaseConnection,
    PathParams,
    RequestContext,
    SecurityHeaders,
)
from gateway.policy import Policy
from gateway.resources.account import Dashboard, Payments
from gateway.resources.account_settings import AccountPage, EmailChange, EmailChoices, EmailResend
from gateway.resources.auth import (
    ChallengeProof,
    Challenges,
    ChallengeStatus,
    Logout,
    ServiceKey,
    SessionInfo,
)
from gateway.resources.email_verify import EmailVerify
from gateway.resources.health import Health, Metrics, Ready
from gateway.resources.kyc import add_kyc_routes
from gateway.resources.login import LoginPage
from gateway.resources.low_balance import LowBalance
from gateway.resources.plans import Plans, RequestStatus, Vms
from gateway.resources.receipts import ReceiptPage, ReceiptPdf
from gateway.resources.sandbox import SandboxCheckout
from gateway.resources.sessions import SessionEnd, SessionsEndAll
from gateway.resources.statement import Statement, StatementCsv
from gateway.resources.topup import TopUpStart
from gateway.resources.topups import TopUpCancel, TopUpResume, TopUpStatus
from gateway.resources.usage_items import UsageEntryPage
from gateway.resources.vms import PlanRenewal, PlanUpgrade, VmRelease
from gateway.resources.webhooks import Webhook
from gateway.templates import Renderer
from settings import Plan, default_plans

#: The plans on sale when none are given (``HERO_PLANS_JSON``'s default).
DEFAULT_PLAN_LIST = default_plans()


def create_app(
    *,
    providers: Mapping[str, PaymentProvider],
    send: Callable[..., Any],
    ready_checks: dict[str, Callable[[], None]],
    public_url: str,
    login: LoginOptions,
    policy: Policy,
    webhook_providers: Mapping[str, PaymentProvider] | None = None,
    plans: tuple[Plan, ...] = DEFAULT_PLAN_LIST,
    production: bool = False,
    metrics_token: str | None = None,
    console: ConsoleOptions | None = None,
    kyc: KycProvider | None = None,
    support: str = "our support team",
) -> falcon.App[falcon.Request, falcon.Response]:
    """Build the gateway.

    Args:
        providers: the providers a user may top up with, by name.
        send: ``send(actor_name, **kwargs)``, returning once the broker confirmed.
        ready_checks: name -> callable raising when that dependency is down.
        public_url: where browsers and providers reach this gateway.
        login: the service key, lifetimes and cookie flags of logins and sessions.
        policy: the credit grace the dashboard counts down and which action needs a
            verified identity (``HERO_SUSPEND_AFTER_S``, ``HERO_KYC_REQUIRED_FOR``).
        webhook_providers: who verifies ``/webhooks/{name}`` (default: *providers*).
        plans: the plans on sale.
        production: served over https to the public: HSTS on, ``/metrics`` closed
            unless *metrics_token* is given.
        metrics_token: the bearer token ``/metrics`` asks for.
        console: the operator console at ``/admin`` (None: no console, a plain 404).
        kyc: the identity verification provider (None: no verification pages).
        support: how users reach support (shown when a verification is refused).
    """
    renderer = Renderer(plans)
    middleware: list[Any] = [
        RequestContext(),
        SecurityHeaders(hsts=production),
        BodyLimit(per_prefix={"/webhooks/": MAX_WEBHOOK_BYTES}),
        PathParams(),
        DatabaseConnection(),
        Sessions(clock=login.clock),
        *([ConsoleSessions(console)] if console is not None else []),
        CsrfProtection(exempt_prefixes=("/webhooks/",)),
    ]
    app = falcon.App(middleware=middleware)
    app.req_options.media_handlers = media_handlers()
    app.set_error_serializer(make_serializer(renderer))
    add_domain_error_handlers(app)

    app.add_route("/healthz", Health())
    app.add_route("/readyz", Ready(checks=ready_checks))
    app.add_route("/metrics", Metrics(token=metrics_token, public=not production))
    app.add_route(
        "/webhooks/{provider}",
        Webhook(providers=webhook_providers or providers, send=send),
    )
    app.add_route("/", Dashboard(renderer=renderer, policy=policy))
    app.add_route("/payments", Payments(renderer=renderer))
    app.add_route("/statement", Statement(renderer=renderer))
    app.add_route("/payments/{payment_id:int(min=1)}/receipt", ReceiptPage(renderer=renderer))
    app.add_route("/payments/{payment_id:int(min=1)}/receipt.pdf", ReceiptPdf())
    app.add_route("/statement.csv", StatementCsv())
    app.add_route("/statement/{entry_id:int(min=1)}", UsageEntryPage(renderer=renderer))
    app.add_route("/account", AccountPage(renderer=renderer, clock=login.clock))
    app.add_route("/account/email", EmailChange(send=send, renderer=renderer, clock=login.clock))
    app.add_route("/account/email/link", EmailResend(send=send))
    app.add_route("/account/email/verify", EmailVerify(send=send, renderer=renderer, login=login))
    app.add_route("/account/choices", EmailChoices(send=send, renderer=renderer, clock=login.clock))
    app.add_route("/account/sessions/{session_id:int(min=1)}/end", SessionEnd(login=login))
    app.add_route("/account/sessions/end-all", SessionsEndAll(login=login))
    app.add_route("/account/low-balance", LowBalance(send=send, renderer=renderer, policy=policy))
    plans_page = Plans(plans=plans, send=send, renderer=renderer, policy=policy)
    app.add_route("/plans", plans_page)
    app.add_route("/vms", Vms(send=send, page=plans_page))
    app.add_route("/plans/upgrade", PlanUpgrade(plans=plans, send=send, page=plans_page))
    app.add_route("/plans/renewal", PlanRenewal(send=send, page=plans_page))
    app.add_route("/vms/release", VmRelease(send=send, page=plans_page))
    app.add_route("/requests/{request_id}", RequestStatus(renderer=renderer))
    app.add_route("/login", LoginPage(login=login, renderer=renderer))
    app.add_route("/logout", Logout(login=login))
    app.add_route("/auth/service", ServiceKey(login=login))
    app.add_route("/auth/session", SessionInfo())
    app.add_route("/auth/challenges", Challenges(login=login, renderer=renderer))
    app.add_route(
        "/auth/challenges/{challenge_id}",
        ChallengeStatus(login=login, send=send, renderer=renderer, public_url=public_url),
    )
    app.add_route("/auth/challenges/{challenge_id}/proof", ChallengeProof(login=login))
    topup = TopUpStart(
        providers=providers, send=send, renderer=renderer, public_url=public_url, policy=policy
    )
    app.add_route("/topup", topup)
    app.add_route("/topups/{topup_id}", TopUpStatus(renderer=renderer))
    app.add_route("/topups/{topup_id}/resume", TopUpResume(start=topup))
    app.add_route("/topups/{topup_id}/cancel", TopUpCancel(send=send))
    sandbox = providers.get("sandbox")
    if isinstance(sandbox, SandboxProvider):
        app.add_route(
            "/sandbox/checkout/{topup_id}", SandboxCheckout(sandbox=sandbox, renderer=renderer)
        )
    if kyc is not None:
        add_kyc_routes(
            app,
            provider=kyc,
            send=send,
            renderer=renderer,
            public_url=public_url,
            support=support,
            required_for=policy.kyc_required_for,
        )
    if console is not None:
        add_console(app, options=console, login=login, send=send, renderer=renderer, policy=policy)
    app.resp_options.static_media_types = static_media_types(app.resp_options.static_media_types)
    app.add_static_route("/static", _static_dir())
    return app


def static_media_types(known: dict[str, str]) -> dict[str, str]:
    """The media type of each static file suffix, text ones saying their charset (every file
    under ``static/`` is UTF-8), ``.js`` as ``text/javascript`` (RFC 9239)."""
    types = {**known, ".js": "text/javascript"}
    return {
        suffix: f"{kind}; charset=utf-8"
        if (kind.startswith("text/") or kind.endswith("+xml")) and "charset" not in kind
        else kind
        for suffix, kind in types.items()
    }


def _static_dir() -> str:
    from importlib.resources import files

    return str(files("gateway") / "static")
