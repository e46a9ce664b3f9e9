"""``GET /statement/{entry_id}``: the records a usage entry charged, owner only."""

from __future__ import annotations

import falcon

from gateway.auth.middleware import require_login, viewer
from gateway.templates import Renderer
from gateway.usage_items import quarters_text, usage_entry


class UsageEntryPage:
    """One usage entry, itemised: node, resource, quantity, list price, discount, charge."""

    def __init__(self, *, renderer: Renderer) -> None:
        self._renderer = renderer

    @falcon.before(require_login)
    def on_get(self, req: falcon.Request, resp: falcon.Response, entry_id: int) -> None:
        found = usage_entry(req.context.address, entry_id)
        if found is None:
            raise falcon.HTTPNotFound(
                title="Entry not found",
                description="There is no usage entry with this number in your statement.",
            )
        resp.content_type = falcon.MEDIA_HTML
        resp.text = self._renderer.render(
            "usage_entry.html", viewer=viewer(req), found=found, quarters=quarters_text
        )
