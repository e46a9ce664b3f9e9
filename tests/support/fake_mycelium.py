"""A local HTTP server that speaks the part of Mycelium's node API the gateway uses.

``GET /api/v1/messages?topic=<b64>&timeout=<s>[&peek=true]`` pops (or peeks) the oldest
inbound message whose topic starts with the filter, waiting up to ``timeout`` seconds:
200 with an ``InboundMessage``, or 204. ``GET /api/v1/admin`` answers the node's identity.
Tests push ``InboundMessage``s in as if other nodes had sent them.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nacl.public

from models.address import derive_address

#: Longest long poll the fake holds a request, in seconds (the real node has no cap).
MAX_WAIT_S = 30.0


class FakeMycelium:
    """A Mycelium node's API on 127.0.0.1 whose inbox the test fills."""

    def __init__(self, node_key: nacl.public.PrivateKey) -> None:
        self.node_key = node_key
        self._inbox: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False
        self.delivered = 0
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
        topic: bytes = b"hero.login",
    ) -> dict[str, Any]:
        """Deliver *payload* from *sender*'s node as Mycelium would (srcIp is its address)."""
        src_pk = bytes(sender.public_key)
        message = {
            "id": secrets.token_hex(8),
            "srcIp": src_ip or str(derive_address(src_pk)),
            "srcPk": src_pk.hex(),
            "dstIp": str(derive_address(bytes(self.node_key.public_key))),
            "dstPk": self.node_pubkey,
            "topic": base64.b64encode(topic).decode(),
            "payload": base64.b64encode(payload.encode()).decode(),
        }
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

    def _take(self, prefix: bytes, *, peek: bool, wait_s: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + min(wait_s, MAX_WAIT_S)
        with self._cond:
            while not self._closed:
                for message in self._inbox:
                    if base64.b64decode(message.get("topic") or "").startswith(prefix):
                        if not peek:
                            self._inbox.remove(message)
                            self.delivered += 1
                            self._cond.notify_all()
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                if parts.path == "/api/v1/admin":
                    self._answer(200, fake._admin())
                elif parts.path == "/api/v1/messages":
                    try:
                        prefix = base64.b64decode(query.get("topic", ""), validate=True)
                        wait_s = float(query.get("timeout", "0"))
                    except ValueError:
                        self._answer(400, {"error": "bad query"})
                        return
                    peek = query.get("peek", "false") == "true"
                    message = fake._take(prefix, peek=peek, wait_s=wait_s)
                    self._answer(200, message) if message else self._answer(204, None)
                else:
                    self._answer(404, {"error": "not found"})

            def _answer(self, status: int, body: Any) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
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
