"""The composition root: settings in, one frozen set of dependencies and a broker out.

``bootstrap(settings)`` is what every process runs first (gateway, worker, scheduler,
bridge, the operator CLI, the WSGI entry): it binds the database, builds the broker
before any actor module is imported, and installs the process's ``Deps``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dramatiq

import actors
from actors import deps
from adapters.kyc import KycProvider, KycStatusSource
from adapters.payments import PaymentProvider
from adapters.payments.sandbox import SandboxProvider
from adapters.payments.stripe_provider import StripeProvider
from models import init_database
from settings import ConfigError, Settings

if TYPE_CHECKING:
    from adapters.email import EmailSender
    from adapters.payments.clickpesa import ClickPesaProvider


def bootstrap(settings: Settings, *, create_database: bool = True) -> dramatiq.Broker:
    """Bind the database, build the broker and install this process's dependencies.

    Args:
        create_database: make a missing SQLite file; False raises ``DatabaseUnavailable``.
    """
    init_database(settings.database_url, create=create_database)
    broker = actors.build_broker(settings.amqp_url)
    deps.install(build_deps(settings))
    return broker


def build_deps(settings: Settings) -> deps.Deps:
    """The dependencies of a process configured by *settings*."""
    from actors.aggregator import ForgeAccess
    from actors.credit import CreditPolicy
    from actors.plans import PoolAssignmentProvisioner

    return deps.Deps(
        plans=settings.plans,
        provisioner=PoolAssignmentProvisioner(),
        email_sender=email_sender(settings),
        public_url=settings.public_url.rstrip("/"),
        forge=ForgeAccess(
            mirror_dir=settings.mirror_dir,
            username=settings.forge_user,
            password=settings.forge_token,
            timeout_s=settings.forge_timeout_s,
        ),
        credit_policy=CreditPolicy(
            floor_cents=settings.credit_floor_cents, suspend_after_s=settings.suspend_after_s
        ),
        clickpesa=_clickpesa(settings) if settings.clickpesa_enabled else None,
        refunders=_refunders(settings),
        operator_pubkeys=tuple(k.lower() for k in settings.operator_pubkeys),
        kyc_required_for=settings.kyc_required_for,
        kyc_status=_kyc_status(settings),
        kyc_check_after_s=settings.kyc_check_after_s,
    )


def _kyc_status(settings: Settings) -> KycStatusSource | None:
    """iDenfy's status call, when iDenfy verifies here and its keys are set (a missing key
    is reported by ``check-config`` and by the gateway, which refuses to start)."""
    if settings.kyc_provider != "idenfy":
        return None
    if not (settings.idenfy_api_key and settings.idenfy_api_secret and settings.idenfy_signing_key):
        return None
    from adapters.kyc.idenfy import IdenfyProvider

    return IdenfyProvider(
        api_key=settings.idenfy_api_key,
        api_secret=settings.idenfy_api_secret,
        signing_key=settings.idenfy_signing_key,
        api_base=settings.idenfy_api_base,
    )


def email_sender(settings: Settings) -> EmailSender:
    """SendGrid when its key is set, else a folder of ``.eml`` files (``HERO_OUTBOX_DIR``)."""
    from adapters.email import FolderSender, SendGridSender

    if settings.sendgrid_api_key:
        return SendGridSender(
            api_key=settings.sendgrid_api_key,
            sender=settings.email_from,
            api_base=settings.sendgrid_api_base,
        )
    return FolderSender(folder=settings.outbox_dir, sender=settings.email_from)


def _clickpesa(settings: Settings) -> ClickPesaProvider:
    """ClickPesa, metered on the daily call budget and sharing its token through the DB."""
    from actors.clickpesa_budget import DbCallMeter, DbTokens
    from adapters.payments.clickpesa import ClickPesaProvider

    return ClickPesaProvider.from_settings(
        settings, meter=DbCallMeter(settings.clickpesa_daily_calls), tokens=DbTokens()
    )


def payment_providers(settings: Settings) -> dict[str, PaymentProvider]:
    """The providers this configuration enables, by name."""
    providers: dict[str, PaymentProvider] = {}
    if settings.stripe_enabled:
        assert settings.stripe_secret_key and settings.stripe_webhook_secret
        providers["stripe"] = StripeProvider(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    if settings.clickpesa_enabled:
        providers["clickpesa"] = _clickpesa(settings)
    if settings.sandbox_webhook_secret:
        providers["sandbox"] = SandboxProvider(
            public_url=settings.public_url, webhook_secret=settings.sandbox_webhook_secret
        )
    return providers


def _refunders(settings: Settings) -> dict[str, StripeProvider]:
    """Who operators' refunds go through: Stripe's API when it is configured."""
    if not (settings.stripe_secret_key and settings.stripe_webhook_secret):
        return {}
    return {
        "stripe": StripeProvider(
            secret_key=settings.stripe_secret_key,
            webhook_secret=settings.stripe_webhook_secret,
            api_base=settings.stripe_api_base,
        )
    }


def kyc_provider(settings: Settings) -> KycProvider | None:
    """The identity verification provider this configuration enables, if any.

    Raises:
        ConfigError: iDenfy without its keys.
    """
    if settings.kyc_provider == "idenfy":
        from adapters.kyc.idenfy import IdenfyProvider

        for name, value in (
            ("HERO_IDENFY_API_KEY", settings.idenfy_api_key),
            ("HERO_IDENFY_API_SECRET", settings.idenfy_api_secret),
            ("HERO_IDENFY_SIGNING_KEY", settings.idenfy_signing_key),
        ):
            if not value:
                raise ConfigError(name, "missing; HERO_KYC_PROVIDER is idenfy")
        assert settings.idenfy_api_key and settings.idenfy_api_secret
        assert settings.idenfy_signing_key
        return IdenfyProvider(
            api_key=settings.idenfy_api_key,
            api_secret=settings.idenfy_api_secret,
            signing_key=settings.idenfy_signing_key,
            api_base=settings.idenfy_api_base,
        )
    if (
        settings.kyc_provider == "sandbox"
        and settings.env != "prod"
        and settings.idenfy_signing_key
    ):
        from adapters.kyc.sandbox import SandboxKycProvider

        return SandboxKycProvider(
            public_url=settings.public_url, signing_key=settings.idenfy_signing_key
        )
    return None
