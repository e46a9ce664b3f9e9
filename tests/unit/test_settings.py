"""Settings.from_env: defaults, validation naming the variable, plans, secrets, prod checks."""

from __future__ import annotations

import pytest

from node_agent.settings import NodeSettings
from settings import SANDBOX_WEBHOOK_SECRET, ConfigError, Plan, Settings

OPERATOR_PUBKEY = "ab" * 32

#: A configuration with nothing missing for production.
PROD = {
    "HERO_ENV": "prod",
    "HERO_DATABASE_URL": "postgresql://hero@db.example:5432/hero",
    "HERO_AMQP_URL": "amqp://hero@mq.example:5672/hero",
    "HERO_STRIPE_SECRET_KEY": "sk_live_secret_key_value",
    "HERO_STRIPE_WEBHOOK_SECRET": "whsec_live_webhook_value",
    "HERO_SENDGRID_API_KEY": "SG.live_key_value",
    "HERO_OPERATOR_PUBKEYS": OPERATOR_PUBKEY,
    "HERO_PUBLIC_URL": "https://hero.example",
    "HERO_MYCELIUM_KEY": "/etc/mycelium/priv_key.bin",
    "HERO_EMAIL_FROM": "billing@hero.example",
    "HERO_IDENFY_API_KEY": "idenfy_live_key",
    "HERO_IDENFY_API_SECRET": "idenfy_live_secret",
    "HERO_IDENFY_SIGNING_KEY": "idenfy_live_signing_key",
}


def prod(**changes: str | None) -> dict[str, str]:
    """PROD with some variables changed (a value of None removes the variable)."""
    environ = dict(PROD)
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


class TestDefaults:
    """With no variables set, the settings describe the embedded development set-up."""

    def test_environment_defaults_to_dev(self) -> None:
        assert Settings.from_env({}).env == "dev"

    def test_database_defaults_to_sqlite_under_var(self) -> None:
        settings = Settings.from_env({})
        assert settings.database_url == "sqlite:///var/hero.db"
        assert settings.is_sqlite

    def test_broker_defaults_to_none(self) -> None:
        assert Settings.from_env({}).amqp_url is None

    def test_sandbox_payments_default_to_on_in_dev(self) -> None:
        assert Settings.from_env({}).sandbox_payments is True

    def test_sandbox_payments_default_to_off_in_prod(self) -> None:
        assert Settings.from_env({"HERO_ENV": "prod"}).sandbox_payments is False

    def test_sandbox_webhook_secret_is_used_in_dev(self) -> None:
        assert Settings.from_env({}).sandbox_webhook_secret == SANDBOX_WEBHOOK_SECRET

    def test_sandbox_webhook_secret_is_never_used_in_prod(self) -> None:
        settings = Settings.from_env({"HERO_ENV": "prod", "HERO_SANDBOX_PAYMENTS": "true"})
        assert settings.sandbox_webhook_secret is None
        assert settings.stripe_webhook_secret is None

    def test_sandbox_webhook_secret_is_not_used_when_sandbox_is_off(self) -> None:
        settings = Settings.from_env({"HERO_SANDBOX_PAYMENTS": "false"})
        assert settings.sandbox_webhook_secret is None

    def test_configured_webhook_secret_wins_over_the_sandbox_one(self) -> None:
        settings = Settings.from_env({"HERO_STRIPE_WEBHOOK_SECRET": "whsec_mine"})
        assert settings.stripe_webhook_secret == "whsec_mine"
        assert settings.sandbox_webhook_secret == "whsec_mine"

    def test_the_sandbox_secret_never_enables_the_real_stripe_route(self) -> None:
        settings = Settings.from_env({"HERO_STRIPE_SECRET_KEY": "sk_test_real"})
        assert settings.stripe_webhook_secret is None
        assert settings.stripe_enabled is False

    def test_a_node_name_with_a_trailing_newline_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="HERO_NODE_NAME"):
            NodeSettings.from_env({"HERO_NODE_NAME": "node-a\n"})

    def test_http_address_defaults_to_localhost_8080(self) -> None:
        settings = Settings.from_env({})
        assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8080)

    def test_public_url_defaults_to_the_http_address(self) -> None:
        assert Settings.from_env({}).public_url == "http://127.0.0.1:8080"

    def test_worker_threads_default_to_four(self) -> None:
        assert Settings.from_env({}).worker_threads == 4

    def test_the_bridge_fills_a_batch_for_50_ms_unless_told(self) -> None:
        assert Settings.from_env({}).bridge_fill_ms == 50
        assert Settings.from_env({"HERO_BRIDGE_FILL_MS": "0"}).bridge_fill_ms == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HERO_ENV", "staging"),
        ("HERO_HTTP_ADDR", "nope"),
        ("HERO_HTTP_ADDR", "127.0.0.1:70000"),
        ("HERO_DATABASE_URL", "mysql://x"),
        ("HERO_DATABASE_URL", "sqlite:hero.db"),
        ("HERO_AMQP_URL", "http://x"),
        ("HERO_NATS_URL", "http://x"),
        ("HERO_PUBLIC_URL", "ftp://hero.example"),
        ("HERO_PLANS_JSON", "{not json"),
        ("HERO_PLANS_JSON", '{"5vms": {"price_cents": 0, "period_hours": 720, "vms": 5}}'),
        ("HERO_PLANS_JSON", '{"5vms": {"price_cents": -100, "period_hours": 720, "vms": 5}}'),
        ("HERO_PLANS_JSON", '{"5vms": {"price_cents": 10.5, "period_hours": 720, "vms": 5}}'),
        ("HERO_PLANS_JSON", '{"5vms": {"price_cents": true, "period_hours": 720, "vms": 5}}'),
        ("HERO_PLANS_JSON", "[]"),
        ("HERO_OPERATOR_PUBKEYS", "abc123"),
        ("HERO_OPERATOR_PUBKEYS", "zz" * 32),
        ("HERO_WORKER_THREADS", "0"),
        ("HERO_WORKER_THREADS", "four"),
        ("HERO_BRIDGE_FILL_MS", "-1"),
        ("HERO_BRIDGE_FILL_MS", "0.05"),
        ("HERO_BRIDGE_FILL_MS", "1001"),
        ("HERO_SANDBOX_PAYMENTS", "maybe"),
    ],
)
def test_bad_value_raises_config_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name}: ")


def test_plans_default_to_5vms_and_10vms() -> None:
    assert Settings.from_env({}).plans == (
        Plan(plan_id="5vms", price_cents=1000, period_hours=720, vms=5),
        Plan(plan_id="10vms", price_cents=2000, period_hours=720, vms=10),
    )


def test_plans_json_is_parsed_into_plan_objects() -> None:
    raw = '{"big": {"price_cents": 5000, "period_hours": 168, "vms": 20}}'
    settings = Settings.from_env({"HERO_PLANS_JSON": raw})
    assert settings.plans == (Plan(plan_id="big", price_cents=5000, period_hours=168, vms=20),)


def test_operator_pubkeys_are_split_on_commas_and_lowercased() -> None:
    upper = "AB" * 32
    settings = Settings.from_env({"HERO_OPERATOR_PUBKEYS": f"{upper}, {'cd' * 32}"})
    assert settings.operator_pubkeys == ("ab" * 32, "cd" * 32)


def test_secrets_are_kept_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "HERO_STRIPE_SECRET_KEY": "sk_test_topsecret1",
            "HERO_STRIPE_WEBHOOK_SECRET": "whsec_topsecret2",
            "HERO_CLICKPESA_CLIENT_ID": "client",
            "HERO_CLICKPESA_API_KEY": "topsecret3",
            "HERO_CLICKPESA_CHECKSUM_KEY": "topsecret4",
        }
    )
    assert "topsecret" not in repr(settings)


def test_passwords_in_service_urls_are_kept_out_of_repr() -> None:
    settings = Settings.from_env(
        {
            "HERO_DATABASE_URL": "postgresql://hero:dbpassword1@db.example/hero",
            "HERO_AMQP_URL": "amqp://hero:mqpassword2@mq.example/hero",
        }
    )
    assert "password" not in repr(settings)


def test_public_url_default_brackets_an_ipv6_host() -> None:
    settings = Settings.from_env({"HERO_HTTP_ADDR": "[::1]:8080"})
    assert settings.public_url == "http://[::1]:8080"


class TestProductionProblems:
    """production_problems() names the variable behind each thing that is unfit for prod."""

    def test_complete_prod_config_has_no_problems(self) -> None:
        assert Settings.from_env(PROD).production_problems() == []

    def test_dev_config_has_no_production_problems(self) -> None:
        assert Settings.from_env({}).production_problems() == []

    def test_missing_webhook_secret_is_named(self) -> None:
        problems = Settings.from_env(prod(HERO_STRIPE_WEBHOOK_SECRET=None)).production_problems()
        assert any(p.startswith("HERO_STRIPE_WEBHOOK_SECRET: missing secret") for p in problems)

    def test_missing_stripe_secret_key_is_named(self) -> None:
        problems = Settings.from_env(prod(HERO_STRIPE_SECRET_KEY=None)).production_problems()
        assert any(p.startswith("HERO_STRIPE_SECRET_KEY: missing secret") for p in problems)

    def test_missing_clickpesa_secret_is_named(self) -> None:
        environ = prod(HERO_CLICKPESA_CLIENT_ID="client", HERO_CLICKPESA_API_KEY="key")
        problems = Settings.from_env(environ).production_problems()
        assert problems == ["HERO_CLICKPESA_CHECKSUM_KEY: missing secret"]

    def test_sandbox_payments_on_is_named(self) -> None:
        problems = Settings.from_env(prod(HERO_SANDBOX_PAYMENTS="true")).production_problems()
        assert [p for p in problems if p.startswith("HERO_SANDBOX_PAYMENTS:")]

    def test_sqlite_database_is_named(self) -> None:
        environ = prod(HERO_DATABASE_URL="sqlite:///var/hero.db")
        problems = Settings.from_env(environ).production_problems()
        assert [p for p in problems if p.startswith("HERO_DATABASE_URL:")]

    def test_missing_broker_is_named(self) -> None:
        problems = Settings.from_env(prod(HERO_AMQP_URL=None)).production_problems()
        assert [p for p in problems if p.startswith("HERO_AMQP_URL:")]

    def test_missing_operator_keys_are_named(self) -> None:
        problems = Settings.from_env(prod(HERO_OPERATOR_PUBKEYS=None)).production_problems()
        assert [p for p in problems if p.startswith("HERO_OPERATOR_PUBKEYS:")]

    def test_plain_http_public_url_is_named(self) -> None:
        environ = prod(HERO_PUBLIC_URL="http://hero.example")
        problems = Settings.from_env(environ).production_problems()
        assert [p for p in problems if p.startswith("HERO_PUBLIC_URL:")]


class TestLoginSettings:
    """The service Mycelium key, login and session lifetimes, trusted proxies."""

    def test_a_challenge_lives_five_minutes_by_default(self) -> None:
        assert Settings.from_env({}).login_ttl_s == 300

    def test_the_challenge_lifetime_is_configurable(self) -> None:
        assert Settings.from_env({"HERO_LOGIN_TTL_S": "2"}).login_ttl_s == 2

    def test_a_bad_challenge_lifetime_names_the_variable(self) -> None:
        with pytest.raises(ConfigError, match="HERO_LOGIN_TTL_S"):
            Settings.from_env({"HERO_LOGIN_TTL_S": "0"})

    def test_a_session_lives_seven_days_by_default(self) -> None:
        assert Settings.from_env({}).session_ttl_s == 7 * 24 * 3600

    def test_dev_generates_the_service_key_under_var(self) -> None:
        assert Settings.from_env({}).mycelium_key_path == "var/mycelium_service.key"

    def test_prod_needs_the_service_key(self) -> None:
        problems = Settings.from_env(prod(HERO_MYCELIUM_KEY=None)).production_problems()
        assert [p for p in problems if p.startswith("HERO_MYCELIUM_KEY")] != []

    def test_cookies_are_secure_in_prod_only(self) -> None:
        assert (Settings.from_env(prod()).cookies_secure, Settings.from_env({}).cookies_secure) == (
            True,
            False,
        )

    def test_trusted_proxies_are_ip_addresses(self) -> None:
        with pytest.raises(ConfigError, match="HERO_TRUSTED_PROXIES"):
            Settings.from_env({"HERO_TRUSTED_PROXIES": "10.0.0.1, proxy.example"})

    def test_trusted_proxies_and_their_count(self) -> None:
        settings = Settings.from_env(
            {"HERO_TRUSTED_PROXIES": "10.0.0.2, ::1", "HERO_TRUSTED_PROXY_COUNT": "2"}
        )
        assert (settings.trusted_proxies, settings.trusted_proxy_count) == (("10.0.0.2", "::1"), 2)
        assert Settings.from_env({}).trusted_proxy_count == 1

    @pytest.mark.parametrize(
        ("environ", "problem"),
        [
            ({"HERO_TRUSTED_PROXY_COUNT": "2"}, "no meaning without HERO_TRUSTED_PROXIES"),
            ({"HERO_TRUSTED_PROXIES": "10.0.0.2", "HERO_TRUSTED_PROXY_COUNT": "0"}, "at least 1"),
            ({"HERO_TRUSTED_PROXIES": "10.0.0.2", "HERO_TRUSTED_PROXY_COUNT": "x"}, "integer"),
        ],
    )
    def test_a_bad_proxy_count_is_refused(self, environ: dict[str, str], problem: str) -> None:
        with pytest.raises(ConfigError, match=f"HERO_TRUSTED_PROXY_COUNT: .*{problem}"):
            Settings.from_env(environ)

    def test_the_metrics_token_stays_out_of_repr(self) -> None:
        settings = Settings.from_env({"HERO_METRICS_TOKEN": "s3cret-metrics"})
        assert settings.metrics_token == "s3cret-metrics"
        assert "s3cret-metrics" not in repr(settings)
