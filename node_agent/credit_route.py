"""``GET /credit/{address}`` on the node agent's intake: the account's credit state from
memory, with the age of that knowledge.

Answers (JSON), all with the intake's bearer token:

- ``200`` with at least ``state`` (``ok``, ``low``, ``exhausted``, ``suspended`` or
  ``unknown``), ``age_s`` (seconds since the agent last knew the bucket was current;
  null before it ever loaded it) and, when a state is known, ``balance_cents``,
  ``floor_cents`` and ``seq``. ``unknown`` comes with a ``reason``; a state older than
  ``HERO_NODE_CREDIT_STALE_S`` is ``unknown`` with the old one in ``last_state``;
- ``400`` ``{"error", "field": "address"}`` when the address is no Mycelium address;
- ``401`` no or a wrong token; ``403`` sent from a web page (an ``Origin`` header).

A just-started agent waits up to ``LOAD_WAIT_S`` for the bucket before it answers.
"""

from __future__ import annotations

import hmac
import time

import falcon

from node_agent.credit import CreditBook
from wire.address import parse_address
from wire.errors import InvalidAddress

#: Seconds a request waits for a just-started agent to load the bucket.
LOAD_WAIT_S = 3.0


class CreditResource:
    """``/credit/{address}``: what this host knows of the account's credit."""

    def __init__(self, *, book: CreditBook, token: str) -> None:
        self._book = book
        self._expected = f"Bearer {token}".encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response, address: str) -> None:
        if req.get_header("Origin") is not None:
            _error(resp, falcon.HTTP_403, "Origin", "requests from web pages are refused")
            return
        given = (req.get_header("Authorization") or "").encode()
        if not hmac.compare_digest(given, self._expected):
            resp.set_header("WWW-Authenticate", "Bearer")
            _error(
                resp,
                falcon.HTTP_401,
                "Authorization",
                "missing or wrong token; send Authorization: Bearer <intake token>",
            )
            return
        try:
            parsed = parse_address(address)
        except InvalidAddress as exc:
            _error(resp, falcon.HTTP_400, "address", str(exc))
            return
        deadline = time.monotonic() + LOAD_WAIT_S
        while not self._book.loaded and time.monotonic() < deadline:
            time.sleep(0.05)
        resp.media = {"address": str(parsed), **self._book.answer(parsed.packed.hex())}
        resp.set_header("Cache-Control", "no-store")


def _error(resp: falcon.Response, status: str, field: str, message: str) -> None:
    resp.status = status
    resp.media = {"error": message, "field": field}
