"""Jinja2 rendering for the pages."""

from __future__ import annotations

from typing import Any

import jinja2

from gateway.humantime import human_date, human_time, iso_utc, relative, with_relative
from gateway.receipts import provider_label
from models.money import format_cents
from models.plan_rules import subscription_name
from settings import Plan


class Renderer:
    """Render templates from the package's ``templates/`` folder, autoescaped; *plans*, the
    plans on sale, name a bought plan (``{{ plan_id | plan_name(vms) }}``)."""

    def __init__(self, plans: tuple[Plan, ...] = ()) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("gateway", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
        )
        self._env.filters["money"] = format_cents
        self._env.filters["when"] = human_time
        self._env.filters["day"] = human_date
        self._env.filters["iso"] = iso_utc
        self._env.filters["relative"] = relative
        self._env.filters["when_relative"] = with_relative
        self._env.filters["provider"] = provider_label
        self._env.filters["plan_name"] = lambda plan_id, vms: subscription_name(plan_id, vms, plans)

    def render(self, name: str, **context: Any) -> str:
        return self._env.get_template(name).render(**context)
