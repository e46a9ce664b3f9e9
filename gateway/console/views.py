"""The console's pages: accounts, one account, payments, unmatched items, nodes, alerts,
the VM pool, the audit log, and what became of one change."""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import quote

import falcon

from gateway.console import queries
from gateway.console.session import ConsoleOptions, render_context
from gateway.policy import Policy
from gateway.templates import Renderer
from models import Account
from models.admin_commands import stored_outcome
from models.admin_reads import PAGE_ROWS, audit_page, ledger_page
from models.errors import InvalidAddress
from models.money import CONFIRM_ADJUSTMENT_CENTS
from wire.address import canonical_address


def _before(req: falcon.Request) -> int | None:
    raw = req.get_param("before")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or not 0 < int(raw) < 2**62:
        raise falcon.HTTPBadRequest(
            title="Bad page", description=f"before: must be an entry id, not {raw[:40]!r}"
        )
    return int(raw)


class Page:
    """A console page rendered from *template* with what *load* returns."""

    def __init__(self, renderer: Renderer, template: str, load: Any) -> None:
        self._renderer = renderer
        self._template = template
        self._load = load

    def on_get(self, req: falcon.Request, resp: falcon.Response, **params: str) -> None:
        context = render_context(req)
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(self._template, **context, **self._load(req, **params))


def _home(req: falcon.Request, resp: falcon.Response) -> None:
    render_context(req)
    raise falcon.HTTPSeeOther("/admin/accounts")


class Home:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _home(req, resp)


def _accounts(req: falcon.Request) -> dict[str, Any]:
    search = req.get_param("q") or ""
    return {"search": search[: queries.MAX_SEARCH_CHARS], "rows": queries.accounts(search)}


def _account(req: falcon.Request, address: str, *, policy: Policy) -> dict[str, Any]:
    try:
        canonical = canonical_address(address)
    except InvalidAddress:
        raise falcon.HTTPNotFound() from None
    account = Account.get_or_none(Account.address == canonical)
    if account is None:
        raise falcon.HTTPNotFound()
    return {
        **queries.account_detail(account, kyc_required_for=policy.kyc_required_for),
        "ledger": ledger_page(account, limit=PAGE_ROWS, before=_before(req)),
        "account_url": "/admin/accounts/" + quote(canonical),
        "confirm_cents": CONFIRM_ADJUSTMENT_CENTS,
    }


def _table(title: str, columns: list[str], rows: Any, **extra: Any) -> Any:
    def load(req: falcon.Request) -> dict[str, Any]:
        return {"title": title, "columns": columns, "rows": rows(), **extra}

    return load


def _audit(req: falcon.Request) -> dict[str, Any]:
    page = audit_page(limit=PAGE_ROWS, before=_before(req))
    return {"rows": page["rows"], "next_before": page["next_before"]}


def _change(req: falcon.Request, nonce: str) -> dict[str, Any]:
    outcome = stored_outcome(nonce[:64])
    return {"nonce": nonce[:64], "outcome": outcome, "back": req.get_param("back") or ""}


def add_view_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    *,
    renderer: Renderer,
    options: ConsoleOptions,
    policy: Policy,
) -> None:
    app.add_route("/admin", Home())
    app.add_route("/admin/accounts", Page(renderer, "console_accounts.html", _accounts))
    app.add_route(
        "/admin/accounts/{address}",
        Page(renderer, "console_account.html", partial(_account, policy=policy)),
    )
    lists = {
        "payments": (
            "Payments",
            ["id", "provider", "kind", "key", "address", "amount_cents", "status", "received_at"],
            queries.payments,
        ),
        "unmatched": (
            "Unmatched items",
            ["id", "source", "ref", "address", "reason", "attempts", "created_at"],
            queries.unmatched,
        ),
        "nodes": (
            "Nodes",
            ["name", "repo", "cursor", "cursor_updated_at", "lag_s", "nats_only"],
            queries.nodes,
        ),
        "alerts": (
            "Open alerts",
            ["id", "kind", "subject", "message", "created_at"],
            queries.alerts,
        ),
        "pool": ("VM pool", ["vm_id", "address", "status", "held_by"], queries.pool),
    }
    for name, (title, columns, rows) in lists.items():
        app.add_route(
            f"/admin/{name}",
            Page(renderer, "console_list.html", _table(title, columns, rows, kind=name)),
        )
    app.add_route("/admin/audit", Page(renderer, "console_audit.html", _audit))
    app.add_route("/admin/changes/{nonce}", Page(renderer, "console_change.html", _change))
