"""Plans and VMs: buy a plan, start a VM, and watch the request until it is done.

Forms carry a request id made when the page was drawn, so submitting the same form twice
is one request; the actors carry requests out exactly once per id.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import falcon

import messages
from actors.plans import outcome_of
from gateway import forms
from gateway.auth.middleware import require_login, viewer
from gateway.dashboard import dashboard_for
from gateway.errors import wants_json
from gateway.plans_view import offers, start_vm_refusal, vm_lines
from gateway.resources.kyc import refuse_unverified
from gateway.templates import Renderer
from models import Account, ActionRequest, utcnow
from settings import Plan

#: What a request id from a form may look like.
REQUEST_ID = re.compile(r"^[a-f0-9]{32}$")


def _request_id(form: dict[str, Any]) -> str:
    value = forms.text(form, "request_id")
    if not REQUEST_ID.match(value):
        raise falcon.HTTPBadRequest(
            title="Form expired", description="request_id: reload the page and try again"
        )
    return value


class Plans:
    """``GET /plans`` lists plans and VMs; ``POST /plans`` buys one."""

    def __init__(self, *, plans: tuple[Plan, ...], send: messages.Send, renderer: Renderer) -> None:
        self._plans = plans
        self._send = send
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        now = utcnow()
        view = dashboard_for(req.context.address, now=now)
        account = Account.get_or_none(Account.address == req.context.address)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "plans.html",
            viewer=viewer(req),
            view=view,
            offers=offers(self._plans, view.plan, view.balance_cents, now),
            vms=vm_lines(account.id) if account else [],
            start_refusal=start_vm_refusal(account.id, view.plan) if account else "",
            new_id=lambda: uuid.uuid4().hex,
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        plan_id = forms.text(form, "plan_id")
        if plan_id not in {p.plan_id for p in self._plans}:
            raise falcon.HTTPBadRequest(
                title="Unknown plan", description=f"plan_id: there is no plan {plan_id!r}"
            )
        request_id = _request_id(form)
        refuse_unverified(req, "plan")
        self._send(
            messages.BuyPlan(request_id=request_id, address=req.context.address, plan_id=plan_id)
        )
        _accepted(req, resp, request_id)


class Vms:
    """``POST /vms`` starts one VM from the plan's quota."""

    def __init__(self, *, send: messages.Send) -> None:
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = _request_id(forms.body(req))
        self._send(messages.AllocateVm(request_id=request_id, address=req.context.address))
        _accepted(req, resp, request_id)


def _accepted(req: falcon.Request, resp: falcon.Response, request_id: str) -> None:
    if wants_json(req):
        resp.status = falcon.HTTP_202
        resp.media = {"request_id": request_id, "status_url": f"/requests/{request_id}"}
        return
    raise falcon.HTTPSeeOther(f"/requests/{request_id}")


class RequestStatus:
    """``GET /requests/{request_id}``: what became of a request (its owner only)."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, request_id: str) -> None:
        # Request ids are per account: only the viewer's own request is ever found.
        row = ActionRequest.get_or_none(
            (ActionRequest.address == req.context.address)
            & (ActionRequest.request_id == request_id)
        )
        state = outcome_of(row) if row else {"request_id": request_id, "outcome": "pending"}
        if wants_json(req):
            resp.media = state
            return
        # The page refreshes itself once a second, counting; a request still unknown after
        # WAIT_REFRESHES is said to be unknown, and the page stops refreshing.
        waited = _waited(req)
        if row is None and waited >= WAIT_REFRESHES:
            state = {"request_id": request_id, "outcome": "unknown"}
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "request.html",
            viewer=viewer(req),
            state=state,
            kind=row.kind if row else None,
            next_refresh=f"/requests/{request_id}?waited={waited + 1}",
        )


#: Refreshes of a request's page (about one a second) before it is called unknown.
WAIT_REFRESHES = 60


def _waited(req: falcon.Request) -> int:
    raw = req.get_param("waited") or "0"
    return min(int(raw), WAIT_REFRESHES) if raw.isdigit() and len(raw) < 6 else 0
