"""The composition root: settings in, wired processes out (gateway, worker, scheduler)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import dramatiq
import falcon
import nacl.public
import nacl.signing
import structlog

import actors
from adapters.kyc import KycProvider
from adapters.payments import PaymentProvider
from adapters.payments.sandbox import SandboxProvider
from adapters.payments.stripe_provider import StripeProvider
from gateway.app import create_app
from gateway.auth.options import LoginOptions
from gateway.console import ConsoleOptions
from gateway.proxies import WsgiApp, behind_proxies, waitress_options
from models import init_database, ping
from settings import ConfigError, Settings

if TYPE_CHECKING:
    from adapters.payments.clickpesa import ClickPesaProvider

log = structlog.get_logger("hero.runtime")


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


def console_options(settings: Settings) -> ConsoleOptions | None:
    """The operator console, when operator addresses are configured.

    Raises:
        ConfigError: ``HERO_CONSOLE_KEY`` cannot be read.
    """
    if not settings.operator_addresses:
        return None
    key = None
    if settings.console_key:
        try:
            with open(settings.console_key) as fh:
                key = nacl.signing.SigningKey(bytes.fromhex(fh.read().strip()))
        except (OSError, ValueError) as exc:
            raise ConfigError("HERO_CONSOLE_KEY", f"cannot read a key: {exc}") from None
    return ConsoleOptions(
        operator_addresses=settings.operator_addresses,
        signing_key=key,
        session_ttl_s=settings.console_session_ttl_s,
    )


def wire_actors(settings: Settings, *, create_database: bool = True) -> dramatiq.Broker:
    """Bind the database and the broker, and hand actors their collaborators.

    Args:
        create_database: make a missing SQLite file; False raises ``DatabaseUnavailable``.
    """
    init_database(settings.database_url, create=create_database)
    broker = actors.configure_broker(settings.amqp_url)
    from actors import admin

    admin.configure(operator_pubkeys=settings.operator_pubkeys)
    from actors import admin_ops

    admin_ops.configure(refunders=_refunders(settings))
    from actors import aggregator, plans

    plans.configure(settings.plans)
    from actors import kyc

    kyc.configure(required_for=settings.kyc_required_for)
    from actors import credit

    credit.configure(
        credit.CreditPolicy(
            floor_cents=settings.credit_floor_cents, suspend_after_s=settings.suspend_after_s
        )
    )
    from actors import notify
    from adapters.email import FolderSender, SendGridSender

    notify.configure(
        SendGridSender(
            api_key=settings.sendgrid_api_key,
            sender=settings.email_from,
            api_base=settings.sendgrid_api_base,
        )
        if settings.sendgrid_api_key
        else FolderSender(folder=settings.outbox_dir, sender=settings.email_from),
        public_url=settings.public_url,
    )
    aggregator.configure(
        aggregator.ForgeAccess(
            mirror_dir=settings.mirror_dir,
            username=settings.forge_user,
            password=settings.forge_token,
            timeout_s=settings.forge_timeout_s,
        )
    )
    if settings.clickpesa_enabled:
        from actors import clickpesa

        clickpesa.configure(_clickpesa(settings))
    return broker


def build_gateway(settings: Settings) -> falcon.App[falcon.Request, falcon.Response]:
    """The gateway app for *settings* (database and broker already wired)."""
    providers = payment_providers(settings)
    webhook_providers = dict(providers)
    if "sandbox" in providers and "stripe" not in providers:
        # The sandbox posts Stripe-format webhooks to the Stripe route.
        webhook_providers["stripe"] = providers["sandbox"]
    checks: dict[str, Callable[[], None]] = {"database": ping}
    if settings.amqp_url:
        checks["broker"] = _amqp_check(settings.amqp_url)
    return create_app(
        plans=settings.plans,
        providers=providers,
        send=actors.send,
        ready_checks=checks,
        public_url=settings.public_url,
        login=LoginOptions(
            service_key=service_key(settings),
            challenge_ttl_s=settings.login_ttl_s,
            session_ttl_s=settings.session_ttl_s,
            secure_cookies=settings.cookies_secure,
        ),
        webhook_providers=webhook_providers,
        production=settings.env == "prod",
        metrics_token=settings.metrics_token,
        console=console_options(settings),
        kyc=kyc_provider(settings),
        support=settings.email_from,
    )


def wsgi_app(app: falcon.App[falcon.Request, falcon.Response], settings: Settings) -> WsgiApp:
    """*app* as served: the client's address resolved through ``HERO_TRUSTED_PROXIES``."""
    return behind_proxies(app, proxies=settings.trusted_proxies, count=settings.trusted_proxy_count)


def service_key(settings: Settings) -> nacl.public.PrivateKey:
    """The service's X25519 key from ``HERO_MYCELIUM_KEY``.

    In development with the variable unset, a key is generated once under ``var/``
    (every process of the checkout shares it).

    Raises:
        ConfigError: naming HERO_MYCELIUM_KEY when the file is missing or not a key.
    """
    from wire.keys import KeyFileError, read_key_file, write_key_file

    path = settings.mycelium_key_path
    if settings.mycelium_key is None and settings.env != "prod":
        try:
            write_key_file(path, bytes(nacl.public.PrivateKey.generate()))
            log.info("mycelium.key_generated", path=path)
        except KeyFileError:
            pass  # already there (or another process just wrote it)
    try:
        return nacl.public.PrivateKey(read_key_file(path))
    except KeyFileError as exc:
        raise ConfigError("HERO_MYCELIUM_KEY", str(exc)) from None


def start_login_watcher(settings: Settings, stop: threading.Event) -> threading.Thread:
    """Read login messages from the service's Mycelium node in a daemon thread."""
    from adapters.mycelium import MyceliumClient
    from gateway.auth.watcher import LoginWatcher, start_watcher

    watcher = LoginWatcher(
        MyceliumClient(settings.mycelium_api),
        service_pubkey=bytes(service_key(settings).public_key).hex(),
    )
    log.info("login.watcher_started", api=settings.mycelium_api)
    return start_watcher(watcher, stop)


def _amqp_check(url: str) -> Callable[[], None]:
    import pika

    params = pika.URLParameters(url)
    params.socket_timeout = 2
    params.connection_attempts = 1

    def check() -> None:
        pika.BlockingConnection(params).close()

    return check


def serve(
    app: falcon.App[falcon.Request, falcon.Response], settings: Settings, *, stop: threading.Event
) -> None:
    """Serve *app* with waitress on ``HERO_HTTP_ADDR`` until *stop* is set.

    waitress's loop has no stop of its own: it runs in a daemon thread, and on *stop*
    the listening socket is closed and in-flight requests get a few seconds to finish.
    """
    import waitress

    server = waitress.create_server(
        wsgi_app(app, settings),
        host=settings.http_host,
        port=settings.http_port,
        threads=settings.http_threads,
        max_request_body_size=1024 * 1024,
        ident="hero",
        **waitress_options(),
    )
    log.info("gateway.listening", url=f"http://{settings.http_host}:{settings.http_port}")
    thread = threading.Thread(target=server.run, name="waitress", daemon=True)
    thread.start()
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise RuntimeError("the HTTP server stopped unexpectedly")
    server.close()
    server.task_dispatcher.shutdown(timeout=5)
    log.info("gateway.stopped")


def start_worker(broker: dramatiq.Broker, settings: Settings) -> dramatiq.Worker:
    """Start consuming every queue with ``HERO_WORKER_THREADS`` threads."""
    worker = dramatiq.Worker(broker, worker_threads=settings.worker_threads, worker_timeout=200)
    worker.start()
    log.info("worker.started", threads=settings.worker_threads, in_process=actors.is_in_process())
    return worker


class Siblings:
    """Worker processes started beside this one (``HERO_WORKER_PROCESSES``): one Python
    process uses about one core, so a host with more cores runs more of them."""

    def __init__(self, count: int, stop: threading.Event) -> None:
        self._count = count
        self._stop = stop
        self._procs: list[subprocess.Popen[bytes]] = []
        self._thread = threading.Thread(target=self._watch, name="siblings", daemon=True)

    def start(self) -> Siblings:
        self._procs = [self._spawn() for _ in range(self._count)]
        self._thread.start()
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = {**os.environ, "HERO_WORKER_PROCESSES": "1"}
        return subprocess.Popen([sys.executable, "-m", "cli", "worker"], env=env)

    def _watch(self) -> None:
        """Restart a sibling that died, until stopping."""
        while not self._stop.wait(1.0):
            for index, proc in enumerate(self._procs):
                if proc.poll() is not None and not self._stop.is_set():
                    log.warning("worker.sibling_restarted", pid=proc.pid, code=proc.returncode)
                    self._procs[index] = self._spawn()

    def join(self, timeout_s: float = 30) -> None:
        """Ask every sibling to stop (SIGTERM) and wait for it."""
        for proc in self._procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_siblings(count: int, stop: threading.Event) -> Siblings:
    """Start *count* more worker processes, watched and stopped with this one."""
    log.info("worker.siblings", count=count)
    return Siblings(count, stop).start()
