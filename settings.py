"""The one home of configuration: ``Settings.from_env()``, called only in entry points."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wire.env import ConfigError
from wire.env import read_addr as _addr
from wire.env import read_int as _int
from wire.env import read_name as _name
from wire.env import read_url as _url
from wire.nats import CREDIT_BUCKET, USAGE_STREAM, USAGE_SUBJECT_PREFIX

__all__ = [
    "DEFAULT_PLANS",
    "MAX_FLOOR_CENTS",
    "ConfigError",
    "Plan",
    "Settings",
    "default_plans",
]

#: Plans sold when ``HERO_PLANS_JSON`` is unset: id -> price, period and VM quota.
DEFAULT_PLANS: dict[str, dict[str, int]] = {
    "5vms": {"price_cents": 1000, "period_hours": 720, "vms": 5},
    "10vms": {"price_cents": 2000, "period_hours": 720, "vms": 10},
}

#: The furthest ``HERO_CREDIT_FLOOR_CENTS`` may sit below zero ($1,000,000).
MAX_FLOOR_CENTS = 100_000_000
#: The longest the bridge may fill a batch, in milliseconds (far under the ack wait).
MAX_BRIDGE_FILL_MS = 1000

#: Webhook secret the sandbox provider signs with when none is configured (dev only).
#: It is published here, so only the sandbox ever uses it: never the real Stripe route.
SANDBOX_WEBHOOK_SECRET = "whsec_sandbox_development_only"  # noqa: S105
#: The sender address of development; production must send from its own domain.
DEV_EMAIL_FROM = "billing@hero.localhost"
#: Key the KYC sandbox signs its iDenfy-format webhooks with when none is set (dev only).
SANDBOX_IDENFY_SIGNING_KEY = "idenfy_sandbox_development_only"  # noqa: S105


@dataclass(frozen=True)
class Plan:
    """A VM plan: a price, a period and a quota of VMs."""

    plan_id: str
    price_cents: int
    period_hours: int
    vms: int


def default_plans() -> tuple[Plan, ...]:
    """The plans sold when ``HERO_PLANS_JSON`` is unset (``DEFAULT_PLANS``)."""
    return tuple(Plan(plan_id=k, **v) for k, v in DEFAULT_PLANS.items())


@dataclass(frozen=True)
class Settings:
    """Everything a process needs to know about its environment, validated once."""

    env: str = "dev"
    database_url: str = field(default="sqlite:///var/hero.db", repr=False)
    amqp_url: str | None = field(default=None, repr=False)
    nats_url: str | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None
    clickpesa_client_id: str | None = None
    clickpesa_api_key: str | None = field(default=None, repr=False)
    clickpesa_checksum_key: str | None = field(default=None, repr=False)
    clickpesa_api_base: str = "https://api.clickpesa.com/third-parties"
    #: Calls a day this service makes to ClickPesa (its limit before KYC is 100).
    clickpesa_daily_calls: int = 90
    sandbox_payments: bool = True
    plans: tuple[Plan, ...] = ()
    mycelium_api: str = "http://127.0.0.1:8989/api/v1"
    #: File with the service's X25519 private key (32 raw bytes, its node's priv_key.bin).
    mycelium_key: str | None = None
    #: Seconds a login challenge lives, and a session.
    login_ttl_s: int = 300
    session_ttl_s: int = 7 * 24 * 3600
    #: Reverse proxies whose X-Forwarded-For names the client (for login rate limits).
    trusted_proxies: tuple[str, ...] = ()
    #: Proxies in the chain in front of the gateway: the client is that many hops back.
    trusted_proxy_count: int = 1
    #: Bearer token the gateway's /metrics asks for (in production, /metrics is off without).
    metrics_token: str | None = field(default=None, repr=False)
    operator_key: str | None = None
    operator_pubkeys: tuple[str, ...] = ()
    #: Mycelium addresses that may open the operator console at /admin.
    operator_addresses: tuple[str, ...] = ()
    #: File with the console's Ed25519 signing key (its public key in HERO_OPERATOR_PUBKEYS).
    console_key: str | None = None
    #: Seconds a console session lives (shorter than a user's).
    console_session_ttl_s: int = 1800
    worker_threads: int = 4
    worker_processes: int = 1
    http_threads: int = 8
    log_json: bool | None = None
    metrics_addr: tuple[str, int] | None = None
    nats_stream: str = USAGE_STREAM
    nats_subject_prefix: str = USAGE_SUBJECT_PREFIX
    #: Milliseconds the bridge keeps filling a batch once its first message came (0: none).
    bridge_fill_ms: int = 50
    #: Where the aggregator keeps its local mirrors of node repos.
    mirror_dir: str = "var/mirrors"
    sendgrid_api_key: str | None = field(default=None, repr=False)
    sendgrid_api_base: str = "https://api.sendgrid.com"
    email_from: str = DEV_EMAIL_FROM
    #: Start a production role even though check-config finds problems (a staging escape).
    start_unready: bool = False
    outbox_dir: str = "var/outbox"
    forge_user: str | None = None
    forge_token: str | None = field(default=None, repr=False)
    #: Connect and read timeout of a Forge fetch, in seconds.
    forge_timeout_s: int = 30
    #: Identity verification: idenfy | sandbox | none, and what needs it: none | plan | topup.
    kyc_provider: str = "none"
    kyc_required_for: str = "none"
    idenfy_api_key: str | None = field(default=None, repr=False)
    idenfy_api_secret: str | None = field(default=None, repr=False)
    idenfy_signing_key: str | None = field(default=None, repr=False)
    idenfy_api_base: str = "https://ivs.idenfy.com"
    #: Seconds a session may stay pending with no final result before the scheduler asks
    #: iDenfy for it, once (after the token and the session have run out: 3600 + 600 s).
    kyc_check_after_s: int = 7200
    #: At or under this balance (less an account's allowance) an account is exhausted.
    credit_floor_cents: int = 0
    #: Seconds an account stays exhausted before its VMs are suspended.
    suspend_after_s: int = 86_400
    #: The NATS key-value bucket holding every account's credit state.
    nats_credit_bucket: str = CREDIT_BUCKET

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Build settings from ``HERO_*`` variables.

        Raises:
            ConfigError: naming the first variable whose value is unusable.
        """
        env = _choice(environ, "HERO_ENV", ("dev", "prod"), "dev")
        if environ.get("HERO_TRUSTED_PROXY_COUNT") and not environ.get("HERO_TRUSTED_PROXIES"):
            raise ConfigError(
                "HERO_TRUSTED_PROXY_COUNT", "has no meaning without HERO_TRUSTED_PROXIES"
            )
        host, port = _addr(environ, "HERO_HTTP_ADDR", "127.0.0.1:8080")
        stripe_secret = environ.get("HERO_STRIPE_WEBHOOK_SECRET") or None
        sandbox = _bool(environ, "HERO_SANDBOX_PAYMENTS", env == "dev")
        return cls(
            env=env,
            database_url=_database_url(environ),
            amqp_url=_url(environ, "HERO_AMQP_URL", ("amqp", "amqps")),
            nats_url=_url(environ, "HERO_NATS_URL", ("nats", "tls")),
            http_host=host,
            http_port=port,
            public_url=(
                _url(environ, "HERO_PUBLIC_URL", ("http", "https"))
                or f"http://{f'[{host}]' if ':' in host else host}:{port}"
            ).rstrip("/"),
            stripe_secret_key=environ.get("HERO_STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=stripe_secret,
            stripe_api_base=_url(environ, "HERO_STRIPE_API_BASE", ("http", "https")),
            clickpesa_client_id=environ.get("HERO_CLICKPESA_CLIENT_ID") or None,
            clickpesa_api_key=environ.get("HERO_CLICKPESA_API_KEY") or None,
            clickpesa_checksum_key=environ.get("HERO_CLICKPESA_CHECKSUM_KEY") or None,
            clickpesa_api_base=(
                _url(environ, "HERO_CLICKPESA_API_BASE", ("http", "https"))
                or "https://api.clickpesa.com/third-parties"
            ).rstrip("/"),
            clickpesa_daily_calls=_int(environ, "HERO_CLICKPESA_DAILY_CALLS", 90, minimum=2),
            sandbox_payments=sandbox,
            plans=_plans(environ),
            mycelium_api=(
                _url(environ, "HERO_MYCELIUM_API", ("http", "https"))
                or "http://127.0.0.1:8989/api/v1"
            ).rstrip("/"),
            mycelium_key=environ.get("HERO_MYCELIUM_KEY") or None,
            login_ttl_s=_int(environ, "HERO_LOGIN_TTL_S", 300, minimum=1),
            session_ttl_s=_int(environ, "HERO_SESSION_TTL_S", 7 * 24 * 3600, minimum=60),
            trusted_proxies=_ips(environ, "HERO_TRUSTED_PROXIES"),
            trusted_proxy_count=_int(environ, "HERO_TRUSTED_PROXY_COUNT", 1, minimum=1),
            metrics_token=environ.get("HERO_METRICS_TOKEN") or None,
            operator_key=environ.get("HERO_OPERATOR_KEY") or None,
            operator_pubkeys=_pubkeys(environ, "HERO_OPERATOR_PUBKEYS"),
            operator_addresses=_addresses(environ, "HERO_OPERATOR_ADDRESSES"),
            console_key=environ.get("HERO_CONSOLE_KEY") or None,
            console_session_ttl_s=_int(environ, "HERO_CONSOLE_SESSION_TTL_S", 1800, minimum=60),
            worker_threads=_int(environ, "HERO_WORKER_THREADS", 4, minimum=1),
            worker_processes=_int(environ, "HERO_WORKER_PROCESSES", 1, minimum=1),
            http_threads=_int(environ, "HERO_HTTP_THREADS", 8, minimum=1),
            log_json=_bool(environ, "HERO_LOG_JSON", None),
            nats_stream=_name(environ, "HERO_NATS_STREAM", USAGE_STREAM),
            nats_subject_prefix=_name(environ, "HERO_NATS_SUBJECT_PREFIX", USAGE_SUBJECT_PREFIX),
            bridge_fill_ms=_fill_ms(environ),
            mirror_dir=environ.get("HERO_MIRROR_DIR") or "var/mirrors",
            sendgrid_api_key=environ.get("HERO_SENDGRID_API_KEY") or None,
            sendgrid_api_base=(
                _url(environ, "HERO_SENDGRID_API_BASE", ("http", "https"))
                or "https://api.sendgrid.com"
            ),
            email_from=environ.get("HERO_EMAIL_FROM") or DEV_EMAIL_FROM,
            start_unready=_bool(environ, "HERO_START_UNREADY", False),
            outbox_dir=environ.get("HERO_OUTBOX_DIR") or "var/outbox",
            forge_user=environ.get("HERO_FORGE_USER") or None,
            forge_token=environ.get("HERO_FORGE_TOKEN") or None,
            forge_timeout_s=_int(environ, "HERO_FORGE_TIMEOUT_S", 30, minimum=1),
            credit_floor_cents=_int(
                environ, "HERO_CREDIT_FLOOR_CENTS", 0, minimum=-MAX_FLOOR_CENTS
            ),
            suspend_after_s=_int(environ, "HERO_SUSPEND_AFTER_S", 86_400, minimum=1),
            nats_credit_bucket=_name(environ, "HERO_NATS_CREDIT_BUCKET", CREDIT_BUCKET),
            **_kyc(environ, env),
            metrics_addr=(
                _addr(environ, "HERO_METRICS_ADDR", "")
                if environ.get("HERO_METRICS_ADDR")
                else None
            ),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite:")

    @property
    def cookies_secure(self) -> bool:
        """Whether cookies carry the Secure flag (production is served over https)."""
        return self.env == "prod"

    @property
    def mycelium_key_path(self) -> str:
        """The service key file: ``HERO_MYCELIUM_KEY``, or a generated one under var/ in dev."""
        return self.mycelium_key or "var/mycelium_service.key"

    @property
    def stripe_enabled(self) -> bool:
        """Real Stripe: both secrets configured (the sandbox's secret never counts)."""
        return bool(self.stripe_secret_key and self.stripe_webhook_secret)

    @property
    def sandbox_webhook_secret(self) -> str | None:
        """What the sandbox provider signs with: None unless it is on, and never in prod."""
        if not self.sandbox_payments or self.env == "prod":
            return None
        return self.stripe_webhook_secret or SANDBOX_WEBHOOK_SECRET

    @property
    def clickpesa_enabled(self) -> bool:
        return bool(
            self.clickpesa_client_id and self.clickpesa_api_key and self.clickpesa_checksum_key
        )

    def production_problems(self) -> list[str]:
        """What stops this configuration from running in production, one line each."""
        problems: list[str] = []
        if self.env != "prod":
            return problems
        if self.is_sqlite:
            problems.append("HERO_DATABASE_URL: SQLite is for development; use postgresql://")
        if self.sandbox_payments:
            problems.append("HERO_SANDBOX_PAYMENTS: the sandbox provider must be off in prod")
        if not self.amqp_url:
            problems.append("HERO_AMQP_URL: missing; production needs RabbitMQ")
        if not (self.stripe_enabled or self.clickpesa_enabled):
            problems.append(
                "HERO_STRIPE_SECRET_KEY/HERO_STRIPE_WEBHOOK_SECRET or HERO_CLICKPESA_*: "
                "no payment provider is configured"
            )
        for name, value, partner in (
            ("HERO_STRIPE_SECRET_KEY", self.stripe_secret_key, self.stripe_webhook_secret),
            ("HERO_STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret, self.stripe_secret_key),
        ):
            if partner and not value:
                problems.append(f"{name}: missing secret (its partner is set)")
        clickpesa = {
            "HERO_CLICKPESA_CLIENT_ID": self.clickpesa_client_id,
            "HERO_CLICKPESA_API_KEY": self.clickpesa_api_key,
            "HERO_CLICKPESA_CHECKSUM_KEY": self.clickpesa_checksum_key,
        }
        if any(clickpesa.values()):
            problems.extend(f"{k}: missing secret" for k, v in clickpesa.items() if not v)
        if not self.mycelium_key:
            problems.append(
                "HERO_MYCELIUM_KEY: missing; point it at the service node's priv_key.bin"
            )
        if not self.sendgrid_api_key:
            problems.append(
                "HERO_SENDGRID_API_KEY: missing; emails would only be written to HERO_OUTBOX_DIR"
            )
        if not self.operator_pubkeys:
            problems.append("HERO_OPERATOR_PUBKEYS: missing; no operator could sign a change")
        if not self.public_url.startswith("https://"):
            problems.append("HERO_PUBLIC_URL: must be an https:// URL in prod")
        if (self.stripe_secret_key or "").startswith(("sk_test_", "rk_test_")):
            problems.append("HERO_STRIPE_SECRET_KEY: a test-mode key; production takes sk_live_")
        if self.email_from == DEV_EMAIL_FROM or self.email_from.endswith(".localhost"):
            problems.append(
                f"HERO_EMAIL_FROM: {self.email_from} is the development sender; "
                "set an address of your own domain"
            )
        if self.kyc_provider == "sandbox":
            problems.append("HERO_KYC_PROVIDER: the KYC sandbox must be off in prod")
        if self.kyc_provider == "idenfy":
            for name, value in (
                ("HERO_IDENFY_API_KEY", self.idenfy_api_key),
                ("HERO_IDENFY_API_SECRET", self.idenfy_api_secret),
                ("HERO_IDENFY_SIGNING_KEY", self.idenfy_signing_key),
            ):
                if not value:
                    problems.append(f"{name}: missing; HERO_KYC_PROVIDER is idenfy")
        return problems


def _fill_ms(environ: Mapping[str, str]) -> int:
    """``HERO_BRIDGE_FILL_MS``: 0 to ``MAX_BRIDGE_FILL_MS`` (a record waits that long at most)."""
    value = _int(environ, "HERO_BRIDGE_FILL_MS", 50, minimum=0)
    if value > MAX_BRIDGE_FILL_MS:
        raise ConfigError(
            "HERO_BRIDGE_FILL_MS", f"must be at most {MAX_BRIDGE_FILL_MS}, not {value}"
        )
    return value


def _choice(environ: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = environ.get(name) or default
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool | None) -> Any:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, not {raw!r}")


def _database_url(environ: Mapping[str, str]) -> str:
    raw = environ.get("HERO_DATABASE_URL") or "sqlite:///var/hero.db"
    scheme = raw.split(":", 1)[0]
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(
            "HERO_DATABASE_URL", f"must start with sqlite:/// or postgresql://, not {raw!r}"
        )
    if scheme == "sqlite" and not raw.startswith("sqlite:///"):
        raise ConfigError("HERO_DATABASE_URL", "a SQLite URL looks like sqlite:///path/to/file.db")
    return raw


def _pubkeys(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = environ.get(name) or ""
    keys = tuple(k.strip().lower() for k in raw.replace(";", ",").split(",") if k.strip())
    for key in keys:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ConfigError(name, f"each key must be 64 hex characters, not {key!r}")
    return keys


def _addresses(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    from wire.address import canonical_address
    from wire.errors import InvalidAddress

    raw = environ.get(name) or ""
    found = []
    for part in raw.replace(";", ",").split(","):
        if part.strip():
            try:
                found.append(canonical_address(part.strip()))
            except InvalidAddress as exc:
                raise ConfigError(name, f"{part.strip()!r}: {exc}") from None
    return tuple(found)


def _ips(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    raw = environ.get(name) or ""
    ips = tuple(p.strip() for p in raw.split(",") if p.strip())
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ConfigError(name, f"each entry must be an IP address, not {ip!r}") from None
    return tuple(str(ipaddress.ip_address(ip)) for ip in ips)


#: The earliest a pending session is asked about: iDenfy's token (3600 s) and session
#: (600 s) have run out, so its status is a verdict or EXPIRED, not ACTIVE.
KYC_CHECK_AFTER_MIN_S = 4200


def _kyc(environ: Mapping[str, str], env: str) -> dict[str, Any]:
    """The KYC settings. Production verifies with iDenfy before a plan; development uses
    the sandbox and requires nothing unless ``HERO_KYC_REQUIRED_FOR`` says so."""
    provider = _choice(
        environ,
        "HERO_KYC_PROVIDER",
        ("idenfy", "sandbox", "none"),
        "idenfy" if env == "prod" else "sandbox",
    )
    required_for = _choice(
        environ,
        "HERO_KYC_REQUIRED_FOR",
        ("none", "plan", "topup"),
        "plan" if env == "prod" else "none",
    )
    if provider == "none" and required_for != "none":
        raise ConfigError(
            "HERO_KYC_REQUIRED_FOR",
            f"is {required_for} but HERO_KYC_PROVIDER is none: no one could be verified",
        )
    signing_key = environ.get("HERO_IDENFY_SIGNING_KEY") or None
    if provider == "sandbox" and signing_key is None and env == "dev":
        signing_key = SANDBOX_IDENFY_SIGNING_KEY
    return {
        "kyc_provider": provider,
        "kyc_required_for": required_for,
        "idenfy_api_key": environ.get("HERO_IDENFY_API_KEY") or None,
        "idenfy_api_secret": environ.get("HERO_IDENFY_API_SECRET") or None,
        "idenfy_signing_key": signing_key,
        "kyc_check_after_s": _int(
            environ, "HERO_KYC_CHECK_AFTER_S", 7200, minimum=KYC_CHECK_AFTER_MIN_S
        ),
        "idenfy_api_base": (
            _url(environ, "HERO_IDENFY_API_BASE", ("http", "https")) or "https://ivs.idenfy.com"
        ).rstrip("/"),
    }


def _plans(environ: Mapping[str, str]) -> tuple[Plan, ...]:
    raw = environ.get("HERO_PLANS_JSON")
    if not raw:
        return default_plans()
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError("HERO_PLANS_JSON", f"is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError("HERO_PLANS_JSON", "must be an object of plan id -> plan")
    plans = []
    for plan_id, spec in data.items():
        if not isinstance(spec, dict):
            raise ConfigError("HERO_PLANS_JSON", f"plan {plan_id!r} must be an object")
        values = {}
        for key in ("price_cents", "period_hours", "vms"):
            value = spec.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    "HERO_PLANS_JSON", f"plan {plan_id!r}: {key} must be a positive integer"
                )
            values[key] = value
        plans.append(Plan(plan_id=str(plan_id), **values))
    return tuple(plans)
