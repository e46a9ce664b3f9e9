"""``POST /account/low-balance``: the balance under which the user is warned."""

from __future__ import annotations

import falcon

import messages
from gateway import forms
from gateway.auth.middleware import require_login
from gateway.errors import refuse_form
from gateway.policy import Policy
from gateway.resources.account import render_dashboard
from gateway.runway import parse_threshold
from gateway.templates import Renderer


class LowBalance:
    """Sends ``set_low_balance``; a value out of bounds comes back on the dashboard, kept,
    with the problem next to the field."""

    def __init__(self, *, send: messages.Send, renderer: Renderer, policy: Policy) -> None:
        self._send = send
        self._renderer = renderer
        self._policy = policy

    @falcon.before(require_login)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        raw = forms.text(forms.body(req), "threshold", max_chars=32)
        try:
            cents = parse_threshold(raw)
        except ValueError as exc:
            detail = str(exc)
            refuse_form(
                req,
                resp,
                title="Check the threshold",
                field="threshold",
                problem=detail,
                show=lambda: render_dashboard(
                    self._renderer,
                    req,
                    resp,
                    policy=self._policy,
                    threshold_error=detail,
                    threshold_value=raw,
                ),
            )
            return
        self._send(messages.SetLowBalance(address=req.context.address, low_balance_cents=cents))
        raise falcon.HTTPSeeOther("/?low_balance=saved#low-balance")
