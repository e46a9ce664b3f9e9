"""The sandbox's webhook secret is published in the source: only the sandbox provider uses
it, only in development, and the real Stripe route never trusts it."""

from __future__ import annotations

from pathlib import Path

import falcon.testing
import nacl.public
import pytest

from runtime.bootstrap import bootstrap, payment_providers
from runtime.gateway import build_gateway
from settings import SANDBOX_WEBHOOK_SECRET, Settings
from tests.support.stripe_events import checkout_completed, signed

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


def gateway(sqlite_db: str, tmp_path: Path, **environ: str) -> falcon.testing.TestClient:
    key = tmp_path / "service.key"
    key.write_bytes(bytes(nacl.public.PrivateKey.generate()))
    settings = Settings.from_env(
        {"HERO_DATABASE_URL": sqlite_db, "HERO_MYCELIUM_KEY": str(key), **environ}
    )
    bootstrap(settings)
    return falcon.testing.TestClient(build_gateway(settings))


def post(client: falcon.testing.TestClient, secret: str) -> int:
    body, headers = signed(checkout_completed(address=ADDRESS, amount_cents=500), secret)
    return client.simulate_post("/webhooks/stripe", body=body, headers=headers).status_code


@pytest.mark.parametrize("sandbox", ["true", "false"])
def test_a_stripe_key_without_its_webhook_secret_does_not_enable_stripe(sandbox: str) -> None:
    settings = Settings.from_env(
        {"HERO_STRIPE_SECRET_KEY": "sk_test_real", "HERO_SANDBOX_PAYMENTS": sandbox}
    )
    assert "stripe" not in payment_providers(settings)


def test_the_real_stripe_route_refuses_an_event_signed_with_the_sandbox_secret(
    sqlite_db: str, tmp_path: Path
) -> None:
    client = gateway(
        sqlite_db,
        tmp_path,
        HERO_STRIPE_SECRET_KEY="sk_test_real",
        HERO_STRIPE_WEBHOOK_SECRET="whsec_real",
    )
    assert post(client, SANDBOX_WEBHOOK_SECRET) == 400
    assert post(client, "whsec_real") == 200


def test_without_the_sandbox_no_route_trusts_the_sandbox_secret(
    sqlite_db: str, tmp_path: Path
) -> None:
    client = gateway(
        sqlite_db, tmp_path, HERO_STRIPE_SECRET_KEY="sk_test_real", HERO_SANDBOX_PAYMENTS="false"
    )
    assert post(client, SANDBOX_WEBHOOK_SECRET) in (400, 404)


def test_production_never_has_a_sandbox_secret() -> None:
    settings = Settings.from_env({"HERO_ENV": "prod", "HERO_SANDBOX_PAYMENTS": "true"})
    assert settings.sandbox_webhook_secret is None
    assert "sandbox" not in payment_providers(settings)
