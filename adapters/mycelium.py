"""The Mycelium node's local HTTP API (messages); key files are ``wire.keys``.

Only the part the login needs: ``GET /messages`` (long poll, pops one message) and
``GET /admin`` (the node's public key). Payloads and topics travel as standard base64.
The node (v0.7.10, ``mycelium-api/src/message.rs``) holds its API lock for the whole of a
long poll, and matches the topic filter by exact equality.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import requests

from models.errors import HeroError

#: How much longer than a long poll the client waits for the node's answer, in seconds.
READ_MARGIN_S = 10
#: Read timeout of ``GET /admin``, in seconds (it waits for the node's API lock).
ADMIN_TIMEOUT_S = 10


class MyceliumUnavailable(HeroError):
    """The Mycelium node's API could not be reached or answered something unexpected."""


class MalformedMessage(HeroError):
    """An inbound message from the node API is not the documented shape."""


@dataclass(frozen=True)
class InboundMessage:
    """A message the node received (``InboundMessage`` of Mycelium's API)."""

    id: str
    src_ip: str
    src_pk: str
    dst_ip: str
    dst_pk: str
    topic: bytes
    payload: bytes

    @classmethod
    def from_api(cls, data: Any) -> InboundMessage:
        """Parse the API's JSON (topic and payload in standard base64).

        Raises:
            MalformedMessage: a field is missing or not decodable.
        """
        if not isinstance(data, dict):
            raise MalformedMessage("an inbound message is a JSON object")
        try:
            return cls(
                id=str(data["id"]),
                src_ip=str(data["srcIp"]),
                src_pk=str(data["srcPk"]),
                dst_ip=str(data.get("dstIp", "")),
                dst_pk=str(data.get("dstPk", "")),
                topic=_b64(data.get("topic") or ""),
                payload=_b64(data["payload"]),
            )
        except KeyError as exc:
            raise MalformedMessage(f"inbound message without {exc.args[0]!r}") from None

    def to_api(self) -> dict[str, str]:
        """The API's JSON form of this message."""
        return {
            "id": self.id,
            "srcIp": self.src_ip,
            "srcPk": self.src_pk,
            "dstIp": self.dst_ip,
            "dstPk": self.dst_pk,
            "topic": base64.b64encode(self.topic).decode(),
            "payload": base64.b64encode(self.payload).decode(),
        }


def _b64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedMessage("topic or payload is not standard base64") from None


class MyceliumClient:
    """A client of one node's local API (``HERO_MYCELIUM_API``, e.g. ``.../api/v1``)."""

    def __init__(self, api_url: str, *, session: requests.Session | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._http = session or requests.Session()

    @property
    def api_url(self) -> str:
        """The node API's base URL, without a trailing slash."""
        return self._api

    def receive(self, *, topic: bytes, timeout_s: int) -> InboundMessage | None:
        """Pop the next message whose topic is exactly *topic*, waiting up to *timeout_s*.

        The node answers after *timeout_s* at most once it serves the request; it may first
        wait for its API lock, which another long poll holds, so the client waits
        ``READ_MARGIN_S`` longer.

        Returns:
            The message, or None when none came in time (204).

        Raises:
            MyceliumUnavailable: the API is down or answered another status.
            MalformedMessage: the answer is not an InboundMessage.
        """
        params = {"topic": base64.b64encode(topic).decode(), "timeout": str(timeout_s)}
        answer = self._get("/messages", params=params, timeout_s=timeout_s + READ_MARGIN_S)
        if answer.status_code == 204:
            return None
        try:
            data = answer.json()
        except ValueError:
            raise MalformedMessage("the node answered a message that is not JSON") from None
        return InboundMessage.from_api(data)

    def node_pubkey(self) -> str | None:
        """The node's public key in hex (``GET /admin``), None when it does not say."""
        try:
            data = self._get("/admin", params={}, timeout_s=ADMIN_TIMEOUT_S).json()
        except ValueError:
            raise MyceliumUnavailable(f"{self._api}/admin answered something not JSON") from None
        key = data.get("nodePubkey") if isinstance(data, dict) else None
        return str(key).lower() if key else None

    def _get(self, path: str, *, params: dict[str, str], timeout_s: float) -> requests.Response:
        try:
            answer = self._http.get(self._api + path, params=params, timeout=timeout_s)
        except requests.RequestException as exc:
            raise MyceliumUnavailable(f"{self._api}{path}: {exc.__class__.__name__}") from exc
        if answer.status_code not in (200, 204):
            raise MyceliumUnavailable(f"{self._api}{path} answered {answer.status_code}")
        return answer
