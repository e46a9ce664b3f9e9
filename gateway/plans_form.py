"""Mistakes on the Plans page's forms, shown where they were made.

A form of the Plans page (buy, upgrade, renewal, start or release a VM) with a mistake
comes back as the same page, answered 400, with the problem in plain words next to that
form's button; the API keeps its 400 whose description starts with the field's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import falcon

from gateway.errors import wants_json

T = TypeVar("T")

#: The words a user reads for each field's problem (the API's description stays exact).
PLAIN_WORDS = {
    "request_id": "This form was out of date, so nothing was done. Press the button again.",
    "renew": "Choose to turn renewal on or off with the button below.",
}


@dataclass(frozen=True)
class FormProblem:
    """What was wrong, and where on the page: *form* is the id of the form (``plans`` for
    the list of plans, ``vms`` for the list of VMs)."""

    form: str
    field: str
    text: str


class PlansPage(Protocol):
    def render(
        self, req: falcon.Request, resp: falcon.Response, *, problem: FormProblem | None = None
    ) -> None: ...


def read_or_show(
    req: falcon.Request,
    resp: falcon.Response,
    page: PlansPage,
    form_id: str,
    read: Callable[[], T],
) -> T | None:
    """``read()``; when it refuses the form with a 400, the page with the problem beside
    *form_id* (and None), or the 400 itself for the API."""
    try:
        return read()
    except falcon.HTTPBadRequest as exc:
        if wants_json(req):
            raise
        field, _, detail = (exc.description or "").partition(": ")
        text = PLAIN_WORDS.get(field) or _sentence(detail or exc.title or "Check the form.")
        resp.status = falcon.HTTP_400
        page.render(req, resp, problem=FormProblem(form=form_id, field=field, text=text))
        return None


def _sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."
