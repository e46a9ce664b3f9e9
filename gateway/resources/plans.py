"""Plans and VMs: buy a plan, start a VM, and watch the request until it is done.

Forms carry a request id made when the page was drawn, so submitting the same form twice
is one request; the actors carry requests out exactly once per id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import falcon

import messages
from gateway import forms
from gateway.auth.middleware import require_login, viewer
from gateway.dashboard import dashboard_for
from gateway.errors import wants_json
from gateway.plans_form import FormProblem, PlansPage, read_or_show
from gateway.plans_view import Offer, VmLine, offers, start_vm_refusal, vm_lines
from gateway.policy import Policy
from gateway.resources.kyc import refuse_unverified
from gateway.templates import Renderer
from models import Account, ActionRequest
from models.plans import outcome_of
from settings import Plan
from wire.times import utcnow

#: What a request id from a form may look like.
REQUEST_ID = re.compile(r"^[a-f0-9]{32}$")

T = TypeVar("T")


def _request_id(form: dict[str, Any]) -> str:
    value = forms.text(form, "request_id")
    if not REQUEST_ID.match(value):
        raise falcon.HTTPBadRequest(
            title="Form expired", description="request_id: reload the page and try again"
        )
    return value


class Plans:
    """``GET /plans`` lists plans and VMs; ``POST /plans`` buys one."""

    def __init__(
        self, *, plans: tuple[Plan, ...], send: messages.Send, renderer: Renderer, policy: Policy
    ) -> None:
        self._plans = plans
        self._send = send
        self._renderer = renderer
        self._policy = policy

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.render(req, resp)

    def render(
        self, req: falcon.Request, resp: falcon.Response, *, problem: FormProblem | None = None
    ) -> None:
        """The Plans page, with *problem* shown next to the form it belongs to."""
        now = utcnow()
        view = dashboard_for(
            req.context.address, now=now, suspend_after_s=self._policy.suspend_after_s
        )
        account = Account.get_or_none(Account.address == req.context.address)
        page_offers = offers(self._plans, view.plan, view.balance_cents, now)
        vms = vm_lines(account.id) if account else []
        if problem is not None:
            problem = placed(problem, page_offers, vms, renewal=view.plan is not None)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "plans.html",
            viewer=viewer(req),
            view=view,
            offers=page_offers,
            vms=vms,
            start_refusal=start_vm_refusal(account.id, view.plan) if account else "",
            new_id=lambda: uuid.uuid4().hex,
            problem=problem,
        )

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        send_request(
            req,
            resp,
            self,
            plan_form_id(form),
            lambda: read_plan_form(form, self._plans),
            lambda plan_id, request_id: messages.BuyPlan(
                request_id=request_id, address=req.context.address, plan_id=plan_id
            ),
            self._send,
            check=lambda: refuse_unverified(
                req, "plan", required_for=self._policy.kyc_required_for
            ),
        )


class RequestForm:
    """A form of the plans page that becomes one request sent to the workers."""

    def __init__(self, *, send: messages.Send, page: PlansPage) -> None:
        self._send = send
        self._page = page

    def _submit(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        form_id: str,
        read: Callable[[], tuple[T, str]],
        message: Callable[[T, str], messages.Message],
    ) -> None:
        send_request(req, resp, self._page, form_id, read, message, self._send)


class Vms(RequestForm):
    """``POST /vms`` starts one VM from the plan's quota."""

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        self._submit(
            req,
            resp,
            "start-form",
            lambda: (None, _request_id(form)),
            lambda _, request_id: messages.AllocateVm(
                request_id=request_id, address=req.context.address
            ),
        )


def plan_form_id(form: dict[str, Any]) -> str:
    """The id of the form on the page that sent *form* (a buy or an upgrade)."""
    plan_id = form.get("plan_id")
    return f"plan-{plan_id}" if isinstance(plan_id, str) else "plans"


def read_plan_form(form: dict[str, Any], plans: tuple[Plan, ...]) -> tuple[str, str]:
    """The plan id and request id of a buy or upgrade form.

    Raises:
        falcon.HTTPBadRequest: description ``"<field>: ..."``.
    """
    plan_id = forms.text(form, "plan_id")
    if plan_id not in {p.plan_id for p in plans}:
        raise falcon.HTTPBadRequest(
            title="Unknown plan",
            description=f"plan_id: there is no plan {plan_id!r}; choose one of the plans here",
        )
    return plan_id, _request_id(form)


def placed(
    problem: FormProblem, page_offers: list[Offer], vms: list[VmLine], *, renewal: bool
) -> FormProblem:
    """*problem* moved to the list it belongs to when its form is not on the page."""
    on_page = {"start-form", *(f"plan-{o.plan.plan_id}" for o in page_offers)}
    if renewal:
        on_page.add("renewal")
    on_page.update(f"release-form-{vm.vm_id}" for vm in vms)
    if problem.form in on_page:
        return problem
    where = "vms" if problem.form.startswith("release-form-") else "plans"
    return FormProblem(form=where, field=problem.field, text=problem.text)


def _accepted(req: falcon.Request, resp: falcon.Response, request_id: str) -> None:
    if wants_json(req):
        resp.status = falcon.HTTP_202
        resp.media = {"request_id": request_id, "status_url": f"/requests/{request_id}"}
        return
    raise falcon.HTTPSeeOther(f"/requests/{request_id}")


def send_request(
    req: falcon.Request,
    resp: falcon.Response,
    page: PlansPage,
    form_id: str,
    read: Callable[[], tuple[T, str]],
    message: Callable[[T, str], messages.Message],
    send: messages.Send,
    *,
    check: Callable[[], None] = lambda: None,
) -> None:
    """Read a plan or VM form (a refusal shown beside *form_id* on *page*), run *check*,
    send the message made of what was read and its request id, and answer with the
    request: its status URL for the API, a redirect to its page for the browser."""
    read_out = read_or_show(req, resp, page, form_id, read)
    if read_out is None:
        return
    value, request_id = read_out
    check()
    send(message(value, request_id))
    _accepted(req, resp, request_id)


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
