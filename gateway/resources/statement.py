"""``GET /statement`` and ``GET /statement.csv``: every ledger entry of the user (read-only)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import falcon

from gateway.auth.middleware import require_login, viewer
from gateway.errors import wants_json
from gateway.humantime import iso_utc
from gateway.statement import (
    KIND_LABELS,
    BadFilter,
    StatementQuery,
    TooManyRows,
    parse_query,
    statement_csv,
    statement_page,
    statement_rows,
)
from gateway.templates import Renderer
from gateway.usage_groups import GROUPS, parse_group, usage_groups
from gateway.usage_items import quarters_text

#: Longest filter value echoed back into the form.
_ECHO_CHARS = 40


def _query(req: falcon.Request) -> StatementQuery:
    """Raises BadFilter."""
    return parse_query(
        start=req.get_param("from"),
        end=req.get_param("to"),
        kinds=req.get_param_as_list("kind"),
        cursor=req.get_param("cursor"),
    )


def _bad_request(exc: BadFilter) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Check the statement filter", description=str(exc))


class Statement:
    """``GET /statement``: newest first, a page at a time, filtered by date range and kind."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            query = _query(req)
            group = parse_group(req.get_param("group"))
        except BadFilter as exc:
            if wants_json(req):
                raise _bad_request(exc) from None
            resp.status = falcon.HTTP_400
            self._render(req, resp, query=None, error=exc)
            return
        if group != "entries":
            self._grouped(req, resp, query, group)
            return
        page = statement_page(req.context.address, query)
        next_url = (
            "/statement?" + urlencode(query.params(cursor=page.next_cursor))
            if page.next_cursor is not None
            else None
        )
        if wants_json(req):
            resp.media = {
                "entries": [
                    {
                        "id": r.entry_id,
                        "at": iso_utc(r.at),
                        "kind": r.kind,
                        "description": r.reason,
                        "amount_cents": r.amount_cents,
                        "balance_after_cents": r.balance_after_cents,
                    }
                    for r in page.rows
                ],
                "next_cursor": page.next_cursor,
                "next": next_url,
            }
            return
        self._render(req, resp, query=query, page=page, next_url=next_url)

    def _grouped(
        self, req: falcon.Request, resp: falcon.Response, query: StatementQuery, group: str
    ) -> None:
        groups = usage_groups(req.context.address, by=group, start=query.start, end=query.end)
        if wants_json(req):
            resp.media = {
                "group": group,
                "groups": [
                    {
                        "key": g.key,
                        "records": g.records,
                        "quantity": g.quantity,
                        "list_cents": g.list_cents,
                        "charge_quarter_cents": g.charge_quarters,
                        "saved_quarter_cents": g.saved_quarters,
                    }
                    for g in groups
                ],
            }
            return
        self._render(req, resp, query=query, groups=groups, group=group)

    def _render(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        *,
        query: StatementQuery | None,
        error: BadFilter | None = None,
        **context: Any,
    ) -> None:
        kinds = [k[:_ECHO_CHARS] for k in req.get_param_as_list("kind") or []]
        filters = query.params() if query else []
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "statement.html",
            viewer=viewer(req),
            values={
                "from": (req.get_param("from") or "")[:_ECHO_CHARS],
                "to": (req.get_param("to") or "")[:_ECHO_CHARS],
                "kinds": kinds,
            },
            errors={error.field: error.problem} if error else {},
            kind_labels=KIND_LABELS,
            filtered=bool(filters),
            first_url="/statement?" + urlencode(filters) if query and query.cursor else None,
            csv_url="/statement.csv" + ("?" + urlencode(filters) if filters else ""),
            page=context.get("page"),
            next_url=context.get("next_url"),
            groups=context.get("groups"),
            group=context.get("group") or "entries",
            group_labels=GROUPS,
            quarters=quarters_text,
        )


class StatementCsv:
    """``GET /statement.csv``: the same rows and filters, all of them, as a download."""

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            query = _query(req)
            text = statement_csv(statement_rows(req.context.address, query))
        except BadFilter as exc:
            raise _bad_request(exc) from None
        except TooManyRows as exc:
            raise falcon.HTTPBadRequest(
                title="Statement too long for one file", description=f"from: {exc}"
            ) from None
        parts = ["hero-statement"]
        if query.start:
            parts.append(f"from-{query.start.isoformat()}")
        if query.end:
            parts.append(f"to-{query.end.isoformat()}")
        resp.content_type = "text/csv; charset=utf-8"
        resp.downloadable_as = "-".join(parts) + ".csv"
        resp.text = text
