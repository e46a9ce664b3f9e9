"""A process environment cleared of HERO_ settings, and a production one (fixtures,
imported by the modules that use them)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No HERO_* variable of the machine leaks in; logging config is put back after."""
    for name in list(os.environ):
        if name.startswith("HERO_"):
            monkeypatch.delenv(name)
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture
def prod_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name, value in PROD.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "priv_key.bin").write_bytes(bytes(range(32)))
    monkeypatch.setenv("HERO_MYCELIUM_KEY", str(tmp_path / "priv_key.bin"))
    return monkeypatch


#: A configuration with nothing missing for production.
PROD = {
    "HERO_ENV": "prod",
    "HERO_DATABASE_URL": "postgresql://hero@db.example:5432/hero",
    "HERO_AMQP_URL": "amqp://hero@mq.example:5672/hero",
    "HERO_STRIPE_SECRET_KEY": "sk_live_secret_key_value",
    "HERO_STRIPE_WEBHOOK_SECRET": "whsec_live_webhook_value",
    "HERO_SENDGRID_API_KEY": "SG.live_key_value",
    "HERO_OPERATOR_PUBKEYS": "ab" * 32,
    "HERO_PUBLIC_URL": "https://hero.example",
    "HERO_LOG_JSON": "true",
    "HERO_EMAIL_FROM": "billing@hero.example",
    "HERO_IDENFY_API_KEY": "idenfy_key",
    "HERO_IDENFY_API_SECRET": "idenfy_secret",
    "HERO_IDENFY_SIGNING_KEY": "idenfy_signing",
}
