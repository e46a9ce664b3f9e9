"""A local HTTP server that behaves as a Mycelium node's message API, for tests.

It reproduces threefoldtech/mycelium v0.7.10 (commit af95abd):

- ``mycelium-api/src/message.rs``, ``get_message``: ``GET /api/v1/messages`` with the
  query ``GetMessageQuery`` (``peek: Option<bool>``, ``timeout: Option<u64>`` seconds,
  ``topic``: standard base64 with padding). The handler first awaits
  ``state.node.lock()`` (no time limit on that wait) and then runs the message future
  under ``tokio::time::timeout(timeout)``, with the node lock held until it answers: one
  long poll blocks every other API call. A timeout answers ``204`` with no body.
  A query that does not parse (``peek=yes``, ``timeout=1.5``, bad base64) is ``400``.
- ``mycelium/src/message.rs``, ``MessageStack::message``: with a topic filter, the first
  message whose topic **equals** the filter (``&v.topic == topic``), not a prefix; without
  one, the oldest message. It is removed unless ``peek`` is true.
- ``mycelium-api/src/lib.rs``, ``get_info``: ``GET /api/v1/admin`` also awaits
  ``state.node.lock()`` and answers ``{nodeSubnet, nodeIp, nodePubkey, nodeStartTime}``.
- The HTTP server (axum on hyper) drops a handler's future when its client disconnects:
  a long poll whose client went away ends, frees the lock and pops nothing.

The lock is FIFO like tokio's ``Mutex``. Tests push ``InboundMessage``s in as if other
nodes had sent them, and read ``max_queued`` (the most requests ever waiting for the lock).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nacl.public

from wire.address import derive_address


class FifoLock:
    """A lock granted in request order (tokio's ``Mutex`` is fair), counting who waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self.max_queued = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            self.max_queued = max(self.max_queued, ticket - self._serving)
            while self._serving != ticket:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._serving += 1
                self._cond.notify_all()


class FakeMycelium:
    """A Mycelium node's API on 127.0.0.1 whose inbox the test fills."""

    def __init__(self, node_key: nacl.public.PrivateKey) -> None:
        self.node_key = node_key
        self._inbox: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False
        self.api_lock = FifoLock()
        self.delivered = 0
        self.requests = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v1"

    @property
    def node_pubkey(self) -> str:
        return bytes(self.node_key.public_key).hex()

    @property
    def max_queued(self) -> int:
        """The most API requests that ever waited for the node lock at once."""
        return self.api_lock.max_queued

    def __enter__(self) -> FakeMycelium:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def push(self, message: dict[str, Any]) -> None:
        """Put an InboundMessage (API JSON form) in the inbox."""
        with self._cond:
            self._inbox.append(message)
            self._cond.notify_all()

    def send_login(
        self,
        sender: nacl.public.PrivateKey,
        payload: str,
        *,
        src_ip: str | None = None,
        topic: bytes | None = b"hero.login",
    ) -> dict[str, Any]:
        """Deliver *payload* from *sender*'s node as Mycelium would (srcIp is its address)."""
        src_pk = bytes(sender.public_key)
        message = {
            "id": secrets.token_hex(8),
            "srcIp": src_ip or str(derive_address(src_pk)),
            "srcPk": src_pk.hex(),
            "dstIp": str(derive_address(bytes(self.node_key.public_key))),
            "dstPk": self.node_pubkey,
            "payload": base64.b64encode(payload.encode()).decode(),
        }
        if topic:  # the real API leaves ``topic`` out when a message has none
            message["topic"] = base64.b64encode(topic).decode()
        self.push(message)
        return message

    def wait_delivered(self, count: int, timeout: float = 30) -> None:
        """Wait until the gateway has popped *count* messages in all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.delivered < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.delivered} of {count} messages were read")
                self._cond.wait(left)

    def take(
        self,
        topic: bytes | None,
        *,
        peek: bool,
        wait_s: float,
        gone: Callable[[], bool] = lambda: False,
    ) -> dict[str, Any] | None:
        """The first message on exactly *topic* (any when None), waiting up to *wait_s*.

        Stops waiting, and takes nothing, as soon as *gone* says the client left.
        """
        deadline = time.monotonic() + wait_s
        with self._cond:
            while not self._closed and not gone():
                for message in self._inbox:
                    if topic is None or base64.b64decode(message.get("topic") or "") == topic:
                        if not peek:
                            self._inbox.remove(message)
                            self.delivered += 1
                            self._cond.notify_all()
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                fake.requests += 1
                parts = urlsplit(self.path)
                if parts.path == "/api/v1/admin":
                    with fake.api_lock.held():
                        self._answer(200, fake._admin())
                elif parts.path == "/api/v1/messages":
                    try:
                        topic, peek, wait_s = parse_get_message_query(parts.query)
                    except ValueError as exc:
                        self._answer(400, None, text=f"Failed to deserialize query string: {exc}")
                        return
                    with fake.api_lock.held():
                        message = fake.take(topic, peek=peek, wait_s=wait_s, gone=self._gone)
                        if message is None:
                            self._answer(204, None)
                        else:
                            self._answer(200, message)
                else:
                    self._answer(404, None)

            def _gone(self) -> bool:
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and not self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    return True

            def _answer(self, status: int, body: Any, *, text: str = "") -> None:
                data = json.dumps(body).encode() if body is not None else text.encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                if status != 204:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _admin(self) -> dict[str, Any]:
        address = derive_address(bytes(self.node_key.public_key))
        return {
            "nodeSubnet": f"{address.exploded[:19]}::/64",
            "nodeIp": str(address),
            "nodePubkey": self.node_pubkey,
            "nodeStartTime": int(time.time()),
        }


def parse_get_message_query(query: str) -> tuple[bytes | None, bool, float]:
    """``(topic, peek, timeout_s)`` of a ``GET /messages`` query, as serde would parse it.

    Raises:
        ValueError: a field does not parse (the real API answers 400).
    """
    fields = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    peek_text = fields.get("peek")
    if peek_text not in (None, "true", "false"):
        raise ValueError(f"peek: invalid type: string {peek_text!r}, expected a boolean")
    timeout_text = fields.get("timeout", "0")
    if not timeout_text.isascii() or not timeout_text.isdigit():
        raise ValueError(f"timeout: invalid digit in {timeout_text!r}")
    topic_text = fields.get("topic")
    topic = None
    if topic_text is not None:
        try:
            topic = base64.b64decode(topic_text.encode(), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"topic: invalid base64 {topic_text!r}") from None
    return topic, peek_text == "true", float(int(timeout_text))
