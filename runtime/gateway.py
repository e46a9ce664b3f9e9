"""The gateway as a process serves it: the app built from settings, the login watcher
and the waitress server."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import falcon
import nacl.public
import nacl.signing
import structlog

import actors
from gateway.app import create_app
from gateway.auth.options import LoginOptions
from gateway.console import ConsoleOptions
from gateway.policy import Policy
from gateway.proxies import WsgiApp, behind_proxies, waitress_options
from models import ping
from runtime.bootstrap import kyc_provider, payment_providers
from settings import ConfigError, Settings

log = structlog.get_logger("hero.runtime")


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


def gateway_policy(settings: Settings) -> Policy:
    """What the gateway shows and refuses by: the credit grace and the identity gate."""
    return Policy(
        suspend_after_s=settings.suspend_after_s, kyc_required_for=settings.kyc_required_for
    )


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
        policy=gateway_policy(settings),
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
    the listening socket is closed, in-flight requests get a few seconds to finish, and
    then every connection is closed. The sockets are closed by the loop's own thread (a
    trigger's thunk): closed from another one while the loop polls them, the loop fails
    on a bad file descriptor.
    """
    import waitress
    from waitress import wasyncore

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
    server.trigger.pull_trigger(lambda: wasyncore.dispatcher.close(server))
    server.task_dispatcher.shutdown(timeout=5)
    with contextlib.suppress(OSError):  # a trigger closed already: the loop has ended
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(timeout=5)
    log.info("gateway.stopped")
