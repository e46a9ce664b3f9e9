"""The logged-in user's pages: dashboard and payment history (read-only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import falcon

from gateway.auth.middleware import require_login, viewer
from gateway.charts import CATEGORY_COLOURS, CATEGORY_LABELS, usage_svg
from gateway.dashboard import Dashboard as DashboardView
from gateway.dashboard import dashboard_for, payment_history
from gateway.errors import wants_json
from gateway.policy import Policy
from gateway.templates import Renderer
from wire.times import iso_z, utcnow


class Dashboard:
    """``GET /``: balance (overdrawn warning), tier, plan, VMs, ledger, usage chart."""

    def __init__(
        self, *, renderer: Renderer, policy: Policy, clock: Callable[[], object] = utcnow
    ) -> None:
        self._renderer = renderer
        self._policy = policy
        self._clock = clock

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        view = dashboard_for(
            req.context.address, now=utcnow(), suspend_after_s=self._policy.suspend_after_s
        )
        if wants_json(req):
            resp.media = {
                "address": view.address,
                "ready": view.exists,
                "balance_cents": view.balance_cents,
                "overdrawn": view.overdrawn,
                "tier": view.tier,
                "next_tier": view.next_tier,
                "days_to_next_tier": view.days_to_next,
                "plan_id": view.plan.plan_id if view.plan else None,
                "vm_quota_used": view.plan.vm_quota_used if view.plan else 0,
                "vm_quota_total": view.plan.vm_quota_total if view.plan else 0,
                "vms": [vm.vm_id for vm in view.vms],
                "usage_cents_by_day": {d.day.isoformat(): d.cents for d in view.usage},
                "low_balance_cents": view.runway.threshold_cents if view.runway else None,
                "runway_days": view.runway.days if view.runway else None,
            }
            return
        render_dashboard(self._renderer, req, resp, policy=self._policy, view=view)


def render_dashboard(
    renderer: Renderer,
    req: falcon.Request,
    resp: falcon.Response,
    *,
    policy: Policy,
    view: DashboardView | None = None,
    **extra: Any,
) -> None:
    """The dashboard page of the logged-in user, with *extra* for its forms (a value kept
    and the problem next to its field)."""
    view = view or dashboard_for(
        req.context.address, now=utcnow(), suspend_after_s=policy.suspend_after_s
    )
    resp.content_type = falcon.MEDIA_HTML
    resp.text = renderer.render(
        "dashboard.html",
        viewer=viewer(req),
        view=view,
        chart=usage_svg(view.usage),
        low_balance_saved=req.get_param("low_balance") == "saved",
        legend=[(c, CATEGORY_LABELS[c]) for c in CATEGORY_COLOURS],
        **extra,
    )


class Payments:
    """``GET /payments``: the user's payments and refunds."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        rows = payment_history(req.context.address)
        if wants_json(req):
            resp.media = [
                {
                    "provider": p.provider,
                    "kind": p.kind,
                    "amount_cents": p.amount_cents,
                    "status": p.status,
                    "at": iso_z(p.occurred_at) if p.occurred_at else None,
                }
                for p in rows
            ]
            return
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render("payments.html", viewer=viewer(req), payments=rows)
