"""Jinja2 rendering for the pages."""

from __future__ import annotations

from typing import Any

import jinja2

from models.money import format_cents


class Renderer:
    """Render templates from the package's ``templates/`` folder, autoescaped."""

    def __init__(self) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("gateway", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self._env.filters["money"] = format_cents

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)
