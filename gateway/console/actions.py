"""The console's changes: each a form with a required reason, signed with
``HERO_CONSOLE_KEY`` and carried out by the same admin actor as ``hero-admin``'s, its
audit row naming the operator's address. A form that is not right is answered 400 with
the field and the problem; a change is sent, waited for a few seconds, and shown."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import falcon

import messages
from gateway import forms
from gateway.console.session import ConsoleOptions, operator, render_context
from gateway.templates import Renderer
from models import Account, Billing
from models.admin_commands import adjustment_cents, make_envelope, stored_outcome
from models.errors import AdminRefused, InvalidAddress
from models.money import CONFIRM_ADJUSTMENT_CENTS, format_cents, parse_cents
from wire.address import canonical_address

#: How long a change is waited for before its page says it is still under way, in seconds.
WAIT_S = 10.0
#: Longest reason kept.
MAX_REASON_CHARS = 500


class FormProblem(Exception):
    """A console form field is missing or wrong; the message names it."""


def _reason(data: dict[str, Any]) -> str:
    reason = forms.text(data, "reason", max_chars=MAX_REASON_CHARS)
    if not reason:
        raise FormProblem("reason: every change needs a reason")
    return reason


def _cents(data: dict[str, Any], name: str, *, required: bool) -> int | None:
    raw = forms.text(data, name, max_chars=40)
    if not raw:
        if required:
            raise FormProblem(f"{name}: give an amount in dollars, such as 12.50")
        return None
    try:
        return parse_cents(raw)
    except ValueError as exc:
        raise FormProblem(f"{name}: {exc}") from None


def _address(raw: str) -> str:
    try:
        return canonical_address(raw)
    except InvalidAddress as exc:
        raise FormProblem(f"address: {exc}") from None


def adjust(data: dict[str, Any], address: str) -> tuple[str, dict[str, Any]]:
    mode = forms.text(data, "mode") or "by"
    if mode not in ("by", "to"):
        raise FormProblem(f"mode: must be by or to, not {mode[:20]!r}")
    amount = _cents(data, "amount", required=True)
    args: dict[str, Any] = {"address": _address(address), "to_cents": None, "by_cents": None}
    args[f"{mode}_cents"] = amount
    change = _adjustment_change(args)  # the CLI's rule: the change against the balance now
    confirmed = forms.text(data, "confirm") in ("yes", "on", "true")
    if change is not None and abs(change) > CONFIRM_ADJUSTMENT_CENTS and not confirmed:
        raise FormProblem(
            f"confirm: a change of {format_cents(change)} is more than "
            f"{format_cents(CONFIRM_ADJUSTMENT_CENTS)}; tick the confirmation to make it"
        )
    return "balance_adjust", args


def _adjustment_change(args: dict[str, Any]) -> int | None:
    """The change *args* ask for against the balance now (as ``hero-admin balance adjust``
    reckons it), or None when the actor will refuse them anyway, and audit that."""
    billing = Billing.select().join(Account).where(Account.address == args["address"]).first()
    if billing is None:
        return None
    try:
        return adjustment_cents(args, balance_cents=int(billing.balance_cents))
    except AdminRefused:
        return None


def kyc(data: dict[str, Any], address: str) -> tuple[str, dict[str, Any]]:
    status = forms.text(data, "status")
    if status not in ("approved", "denied"):
        raise FormProblem(f"status: must be approved or denied, not {status[:20]!r}")
    return "kyc_set", {"address": _address(address), "status": status}


def retry(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    raw = forms.text(data, "item_id", max_chars=20)
    if raw and not raw.isdigit():
        raise FormProblem(f"item_id: must be an item's number, not {raw!r}")
    return "unmatched_retry", {"item_ids": [int(raw)] if raw else []}


def resolve(data: dict[str, Any], alert_id: str) -> tuple[str, dict[str, Any]]:
    if not alert_id.isdigit() or len(alert_id) > 18:
        raise FormProblem(f"alert_id: must be an alert's number, not {alert_id[:20]!r}")
    return "alert_resolve", {"alert_id": int(alert_id)}


def pool_add(data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    vm_ids = forms.text(data, "vm_ids").split()
    if not vm_ids:
        raise FormProblem("vm_ids: give at least one VM id")
    return "pool_add", {"vm_ids": vm_ids, "address": forms.text(data, "address") or None}


def retire(data: dict[str, Any], vm_id: str) -> tuple[str, dict[str, Any]]:
    return "pool_retire", {"vm_id": vm_id}


def refund(data: dict[str, Any], payment_id: str) -> tuple[str, dict[str, Any]]:
    amount = _cents(data, "amount", required=False)
    if amount is not None and amount <= 0:
        raise FormProblem("amount: must be more than $0.00 (or empty for all that remains)")
    return "payment_refund", {"payment": payment_id, "amount_cents": amount}


class Action:
    """``POST`` one change: check the form, sign, send, wait a little, show the outcome."""

    def __init__(
        self,
        *,
        build: Callable[..., tuple[str, dict[str, Any]]],
        options: ConsoleOptions,
        send: messages.Send,
        renderer: Renderer,
    ) -> None:
        self._build = build
        self._options = options
        self._send = send
        self._renderer = renderer

    def on_post(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        console = operator(req)
        data = forms.body(req)
        back = forms.text(data, "back", max_chars=300)
        back = back if back.startswith("/admin") and "//" not in back else "/admin"
        try:
            reason = _reason(data)
            action, args = self._build(data, **params)
        except FormProblem as exc:
            resp.status = falcon.HTTP_400
            resp.content_type = falcon.MEDIA_HTML
            resp.text = self._renderer.render(
                "console_change.html",
                **render_context(req),
                nonce=None,
                outcome={"outcome": "refused", "reason": str(exc)},
                back=back,
            )
            return
        envelope = make_envelope(
            action,
            {**args, "reason": reason, "operator": console.address},
            signing_key=self._options.signing_key,
        )
        self._send(messages.AdminCommand(envelope=envelope))
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline and stored_outcome(envelope["nonce"]) is None:
            time.sleep(0.1)
        raise falcon.HTTPSeeOther(f"/admin/changes/{envelope['nonce']}?{urlencode({'back': back})}")


def add_action_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    renderer: Renderer,
    options: ConsoleOptions,
    send: messages.Send,
) -> None:
    def route(path: str, build: Callable[..., tuple[str, dict[str, Any]]]) -> None:
        app.add_route(path, Action(build=build, options=options, send=send, renderer=renderer))

    route("/admin/accounts/{address}/adjust", adjust)
    route("/admin/accounts/{address}/kyc", kyc)
    route("/admin/unmatched/retry", retry)
    route("/admin/alerts/{alert_id}/resolve", resolve)
    route("/admin/pool/add", pool_add)
    route("/admin/pool/{vm_id}/retire", retire)
    route("/admin/payments/{payment_id}/refund", refund)


def account_url(address: str) -> str:
    return "/admin/accounts/" + quote(address)
