"""Changes to a plan held: ``POST /plans/upgrade``, ``POST /plans/renewal`` and
``POST /vms/release``. The gateway only sends the request; an actor carries it out once
per request id, and ``/requests/{id}`` shows what became of it."""

from __future__ import annotations

from typing import Any

import falcon

import messages
from gateway import forms
from gateway.auth.middleware import require_login
from gateway.plans_form import PlansPage
from gateway.resources.plans import RequestForm, _request_id, plan_form_id, read_plan_form
from settings import Plan

#: Longest VM id an operator can register (``VmPoolSlot.vm_id``).
MAX_VM_ID = 100


class PlanUpgrade(RequestForm):
    """``POST /plans/upgrade``: move the plan to a bigger one, charged pro rata."""

    def __init__(self, *, plans: tuple[Plan, ...], send: messages.Send, page: PlansPage) -> None:
        super().__init__(send=send, page=page)
        self._plans = plans

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        self._submit(
            req,
            resp,
            plan_form_id(form),
            lambda: read_plan_form(form, self._plans),
            lambda plan_id, request_id: messages.UpgradePlan(
                request_id=request_id, address=req.context.address, plan_id=plan_id
            ),
        )


class PlanRenewal(RequestForm):
    """``POST /plans/renewal``: ``renew=on`` or ``renew=off``."""

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        self._submit(
            req,
            resp,
            "renewal",
            lambda: _renewal(form),
            lambda on, request_id: messages.SetPlanRenewal(
                request_id=request_id, address=req.context.address, on=on
            ),
        )


def _renewal(form: dict[str, Any]) -> tuple[bool, str]:
    choice = forms.text(form, "renew")
    if choice not in ("on", "off"):
        raise falcon.HTTPBadRequest(title="Unknown choice", description="renew: choose on or off")
    return choice == "on", _request_id(form)


class VmRelease(RequestForm):
    """``POST /vms/release``: give the VM ``vm_id`` back to the pool."""

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        form = forms.body(req)
        raw = form.get("vm_id")
        form_id = f"release-form-{raw.strip()}" if isinstance(raw, str) else "vms"
        self._submit(
            req,
            resp,
            form_id,
            lambda: _release(form),
            lambda vm_id, request_id: messages.ReleaseVm(
                request_id=request_id, address=req.context.address, vm_id=vm_id
            ),
        )


def _release(form: dict[str, Any]) -> tuple[str, str]:
    vm_id = forms.text(form, "vm_id").strip()
    if not vm_id or len(vm_id) > MAX_VM_ID:
        raise falcon.HTTPBadRequest(
            title="Unknown VM",
            description=f"vm_id: name one of your VMs (1 to {MAX_VM_ID} characters)",
        )
    return vm_id, _request_id(form)
