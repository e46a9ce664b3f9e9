"""The plans on sale are built in one place: the settings, the workers' defaults and the
web app's defaults all sell the same plans when ``HERO_PLANS_JSON`` is unset."""

from __future__ import annotations

from actors.deps import defaults
from gateway.app import DEFAULT_PLAN_LIST
from settings import DEFAULT_PLANS, Settings, default_plans


def test_every_default_catalogue_is_the_settings_catalogue() -> None:
    from_env = Settings.from_env({}).plans
    assert from_env == default_plans() == defaults().plans == DEFAULT_PLAN_LIST
    assert [p.plan_id for p in from_env] == list(DEFAULT_PLANS)
