"""Changes to a plan held: ``POST /plans/upgrade``, ``POST /plans/renewal`` and
``POST /vms/release``. The gateway only sends the request; an actor carries it out once
per request id, and ``/requests/{id}`` shows what became of it."""

from __future__ import annotations

import falcon

import messages
from gateway import forms
from gateway.auth.middleware import require_login
from gateway.resources.plans import _accepted, _request_id
from settings import Plan

#: Longest VM id an operator can register (``VmPoolSlot.vm_id``).
MAX_VM_ID = 100


class PlanUpgrade:
    """``POST /plans/upgrade``: move the plan to a bigger one, charged pro rata."""

    def __init__(self, *, plans: tuple[Plan, ...], send: messages.Send) -> None:
        self._plans = plans
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        plan_id = forms.text(form, "plan_id")
        if plan_id not in {p.plan_id for p in self._plans}:
            raise falcon.HTTPBadRequest(
                title="Unknown plan", description=f"plan_id: there is no plan {plan_id!r}"
            )
        request_id = _request_id(form)
        self._send(
            messages.UpgradePlan(
                request_id=request_id, address=req.context.address, plan_id=plan_id
            )
        )
        _accepted(req, resp, request_id)


class PlanRenewal:
    """``POST /plans/renewal``: ``renew=on`` or ``renew=off``."""

    def __init__(self, *, send: messages.Send) -> None:
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        choice = forms.text(form, "renew")
        if choice not in ("on", "off"):
            raise falcon.HTTPBadRequest(
                title="Unknown choice", description="renew: choose on or off"
            )
        request_id = _request_id(form)
        self._send(
            messages.SetPlanRenewal(
                request_id=request_id, address=req.context.address, on=choice == "on"
            )
        )
        _accepted(req, resp, request_id)


class VmRelease:
    """``POST /vms/release``: give the VM ``vm_id`` back to the pool."""

    def __init__(self, *, send: messages.Send) -> None:
        self._send = send

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        vm_id = forms.text(form, "vm_id").strip()
        if not vm_id or len(vm_id) > MAX_VM_ID:
            raise falcon.HTTPBadRequest(
                title="Unknown VM",
                description=f"vm_id: name one of your VMs (1 to {MAX_VM_ID} characters)",
            )
        request_id = _request_id(form)
        self._send(
            messages.ReleaseVm(request_id=request_id, address=req.context.address, vm_id=vm_id)
        )
        _accepted(req, resp, request_id)
