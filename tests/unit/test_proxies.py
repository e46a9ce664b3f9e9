"""Clients behind reverse proxies, through the real waitress server ``runtime.gateway.serve``.

The trusted proxy is 127.0.0.1; an untrusted peer is 127.0.0.2 (Linux routes all of
127.0.0.0/8 to the loopback, so a client can bind it as its source address).
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import nacl.public
import pytest

from gateway.auth.challenges import MAX_CHALLENGES_PER_IP
from gateway.proxies import behind_proxies
from models import LoginChallenge
from runtime.gateway import serve
from settings import Settings
from tests.support.login import address_of
from tests.support.services import free_port
from tests.support.web import make_app

PROXY = "127.0.0.1"
STRANGER = "127.0.0.2"


class Gateway:
    """The gateway served by waitress in a thread, called from a chosen source address."""

    def __init__(self, port: int) -> None:
        self.port = port

    def call(
        self,
        method: str,
        path: str,
        *,
        source: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=10, source_address=(source, 0)
        )
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def start_login(self, *, source: str, forwarded_for: str | None = None) -> int:
        """POST /auth/challenges for a fresh address; the status."""
        extra = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
        status, headers, _ = self.call("GET", "/login", source=source, headers=extra)
        assert status == 200
        csrf = headers["Set-Cookie"].split("hero_csrf=", 1)[1].split(";", 1)[0]
        address = address_of(nacl.public.PrivateKey.generate())
        status, _, body = self.call(
            "POST",
            "/auth/challenges",
            source=source,
            body=json.dumps({"address": address}).encode(),
            headers={
                **extra,
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Cookie": f"hero_csrf={csrf}",
                "X-CSRF-Token": csrf,
            },
        )
        assert status in (201, 429), body
        return status


def served(proxies: tuple[str, ...], count: int = 1) -> Iterator[Gateway]:
    app = make_app(providers={})
    port = free_port()
    settings = Settings(
        http_host="127.0.0.1",
        http_port=port,
        http_threads=2,
        trusted_proxies=proxies,
        trusted_proxy_count=count,
    )
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(app, settings), kwargs={"stop": stop})
    thread.start()
    gateway = Gateway(port)
    try:
        for _ in range(100):
            try:
                gateway.call("GET", "/healthz", source=PROXY)
                break
            except OSError:
                stop.wait(0.05)
        yield gateway
    finally:
        stop.set()
        thread.join(timeout=10)


@pytest.fixture
def behind_proxy(pg_db: str) -> Iterator[Gateway]:
    yield from served((PROXY,))


def client_ips() -> list[str]:
    return [row.client_ip for row in LoginChallenge.select().order_by(LoginChallenge.id)]


def test_behind_the_trusted_proxy_each_client_is_counted_apart(behind_proxy: Gateway) -> None:
    for _ in range(MAX_CHALLENGES_PER_IP):
        assert behind_proxy.start_login(source=PROXY, forwarded_for="198.51.100.1") == 201
    assert behind_proxy.start_login(source=PROXY, forwarded_for="198.51.100.1") == 429
    # Another client behind the same proxy is not locked out with the first.
    assert behind_proxy.start_login(source=PROXY, forwarded_for="198.51.100.2") == 201
    assert set(client_ips()) == {"198.51.100.1", "198.51.100.2"}


def test_the_proxy_appends_the_client_so_a_forged_first_hop_counts_for_nothing(
    behind_proxy: Gateway,
) -> None:
    behind_proxy.start_login(source=PROXY, forwarded_for="192.0.2.66, 198.51.100.1")
    assert client_ips() == ["198.51.100.1"]


def test_an_untrusted_peer_cannot_choose_its_address(behind_proxy: Gateway) -> None:
    for n in range(MAX_CHALLENGES_PER_IP):
        assert behind_proxy.start_login(source=STRANGER, forwarded_for=f"198.51.100.{n}") == 201
    assert behind_proxy.start_login(source=STRANGER, forwarded_for="203.0.113.9") == 429
    assert set(client_ips()) == {STRANGER}


def test_without_trusted_proxies_the_header_is_ignored(pg_db: str) -> None:
    for gateway in served(()):
        gateway.start_login(source=PROXY, forwarded_for="198.51.100.1")
    assert client_ips() == [PROXY]


def test_two_proxies_in_the_chain_reach_back_two_hops(pg_db: str) -> None:
    for gateway in served((PROXY,), count=2):
        gateway.start_login(source=PROXY, forwarded_for="192.0.2.66, 198.51.100.1, 10.0.0.5")
    assert client_ips() == ["198.51.100.1"]


def environ_after(proxies: tuple[str, ...], peer: str, **headers: str) -> dict[str, Any]:
    """The WSGI environ the app sees after ``behind_proxies``."""
    seen: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.update(environ)
        return []

    environ = {"REMOTE_ADDR": peer, "wsgi.url_scheme": "http", **headers}
    behind_proxies(app, proxies=proxies, count=1)(environ, lambda *a: None)
    return seen


class TestBehindProxies:
    """The WSGI wrapper alone: which peers are believed, and what is dropped."""

    def test_any_listed_proxy_is_believed(self) -> None:
        for proxy in ("10.0.0.2", "10.0.0.3"):
            seen = environ_after(
                ("10.0.0.2", "10.0.0.3"),
                proxy,
                HTTP_X_FORWARDED_FOR="198.51.100.1",
                HTTP_X_FORWARDED_PROTO="https",
            )
            assert (seen["REMOTE_ADDR"], seen["wsgi.url_scheme"]) == ("198.51.100.1", "https")

    def test_from_anyone_else_every_proxy_header_is_dropped(self) -> None:
        seen = environ_after(
            ("10.0.0.2",),
            "203.0.113.5",
            HTTP_X_FORWARDED_FOR="198.51.100.1",
            HTTP_X_FORWARDED_PROTO="https",
            HTTP_FORWARDED="for=192.0.2.1",
        )
        assert seen["REMOTE_ADDR"] == "203.0.113.5" and seen["wsgi.url_scheme"] == "http"
        assert not {"HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_FORWARDED_PROTO"} & set(seen)

    def test_a_count_below_one_is_refused(self) -> None:
        with pytest.raises(ValueError, match="count"):
            behind_proxies(lambda e, s: [], proxies=(), count=0)


def test_waitress_serves_static_scripts_and_styles_with_their_charset(
    behind_proxy: Gateway,
) -> None:
    for path, media_type in (
        ("/static/refresh.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
    ):
        status, headers, body = behind_proxy.call("GET", path, source=PROXY)
        assert (status, headers["Content-Type"]) == (200, media_type)
        assert body


def test_stopping_closes_open_connections_and_ends_the_server_thread(pg_db: str) -> None:
    before = {t for t in threading.enumerate() if t.name == "waitress"}
    held = None
    for gateway in served(()):
        # a keep-alive connection left open by its client when the gateway stops
        held = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
        held.request("GET", "/static/style.css")
        assert held.getresponse().read()
    assert held is not None and held.sock is not None
    assert held.sock.recv(1) == b""  # the server closed it
    held.close()
    assert {t for t in threading.enumerate() if t.name == "waitress"} == before
