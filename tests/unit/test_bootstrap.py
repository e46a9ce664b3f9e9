"""One bootstrap: importing the web app touches no broker, and the composition root
builds the broker, declares every actor on it and installs one set of dependencies."""

from __future__ import annotations

import importlib
import subprocess
import sys

import dramatiq
import pytest

import actors
from actors import deps
from runtime.bootstrap import bootstrap
from settings import Settings

OPERATOR_PUBKEY = "AB" * 32


def _run(statement: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", statement], capture_output=True, text=True, check=True, timeout=60
    )
    return out.stdout.strip()


def test_importing_the_web_app_declares_no_actor_on_any_broker() -> None:
    # In a fresh interpreter, so an earlier test's broker cannot hide it.
    out = _run(
        "import gateway.app, dramatiq.broker, actors\n"
        "print(dramatiq.broker.global_broker is None, actors.broker is None)"
    )

    assert out == "True True"


def test_importing_every_actor_module_declares_no_actor_on_any_broker() -> None:
    out = _run(
        "import importlib, dramatiq.broker, actors\n"
        "for name in actors.ACTOR_MODULES: importlib.import_module(name)\n"
        "print(dramatiq.broker.global_broker is None, actors.broker is None)"
    )

    assert out == "True True"


def test_bootstrap_declares_every_actor_on_the_broker_it_builds(sqlite_db: str) -> None:
    broker = bootstrap(Settings.from_env({"HERO_DATABASE_URL": sqlite_db}))

    declared = set(broker.get_declared_actors())
    assert actors.broker is broker and dramatiq.get_broker() is broker
    assert {"apply_payment", "apply_usage_batch", "pull_all", "suspend_exhausted"} <= declared
    assert declared == {
        value.actor_name
        for name in actors.ACTOR_MODULES
        for value in vars(importlib.import_module(name)).values()
        if isinstance(value, actors.Declared)
    }


def test_a_second_broker_gets_its_own_actors_and_the_first_keeps_its_own() -> None:
    first = actors.build_broker(None)
    second = actors.build_broker(None)

    assert first.get_actor("apply_payment") is not second.get_actor("apply_payment")
    assert first.get_actor("apply_payment").broker is first
    assert actors.current_broker() is second


def test_bootstrap_installs_the_dependencies_its_settings_describe(sqlite_db: str) -> None:
    settings = Settings.from_env(
        {
            "HERO_DATABASE_URL": sqlite_db,
            "HERO_KYC_REQUIRED_FOR": "plan",
            "HERO_OPERATOR_PUBKEYS": OPERATOR_PUBKEY,
            "HERO_PUBLIC_URL": "https://hero.example/",
        }
    )
    bootstrap(settings)

    installed = deps.current()
    assert installed.plans == settings.plans
    assert installed.kyc_required_for == "plan"
    assert installed.operator_pubkeys == (OPERATOR_PUBKEY.lower(),)
    assert installed.public_url == "https://hero.example"
    assert installed.clickpesa is None and dict(installed.refunders) == {}


def test_an_actor_refuses_to_run_before_anything_was_installed() -> None:
    from actors.plans import catalogue

    with deps.installed(deps.defaults()):
        deps.install(None)
        with pytest.raises(RuntimeError, match="no dependencies installed"):
            catalogue()


@pytest.mark.parametrize("module", actors.ACTOR_MODULES)
def test_no_actor_module_keeps_a_configure_function(module: str) -> None:
    assert not hasattr(importlib.import_module(module), "configure")
