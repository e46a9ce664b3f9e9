"""ClickPesa: hosted checkout links in USD, checksummed webhooks, and payment queries.

Credit never comes from a webhook body alone: a webhook whose checksum verifies only
asks a worker to re-query ``GET /payments/{orderReference}`` (``actors.clickpesa``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from adapters.payments.base import Checkout
from adapters.payments.clickpesa_json import canonical_json, clickpesa_checksum, parse_json
from adapters.payments.clickpesa_limits import (
    CallMeter,
    ProcessTokens,
    TokenStore,
    Unmetered,
)
from adapters.payments.clickpesa_webhook import parse_clickpesa_webhook
from messages.facts import Fact
from models.errors import PaymentError, ProviderUnavailable

if TYPE_CHECKING:
    from settings import Settings

__all__ = [
    "ClickPesaProvider",
    "canonical_json",
    "clickpesa_checksum",
    "format_price",
    "parse_clickpesa_webhook",
]

#: How long a token is reused, in seconds; ClickPesa's tokens live one hour, and a
#: few minutes are kept in hand for clock skew and calls in flight.
TOKEN_TTL_S = 55 * 60
#: Connect and read timeouts of every call to ClickPesa, in seconds.
TIMEOUT_S = (5.0, 30.0)


def format_price(amount_cents: int) -> str:
    """*amount_cents* as ClickPesa's ``totalPrice`` string of dollars.

    >>> format_price(1234), format_price(5), format_price(100_000)
    ('12.34', '0.05', '1000.00')

    Raises:
        PaymentError: the amount is not a positive integer.
    """
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int) or amount_cents <= 0:
        raise PaymentError(f"amount_cents: must be a positive integer, not {amount_cents!r}")
    dollars, cents = divmod(amount_cents, 100)
    return f"{dollars}.{cents:02d}"


class ClickPesaProvider:
    """Payments through ClickPesa's hosted checkout (card and mobile money, in USD)."""

    name = "clickpesa"

    def __init__(
        self,
        *,
        client_id: str,
        api_key: str,
        checksum_key: str,
        api_base: str = "https://api.clickpesa.com/third-parties",
        clock: Callable[[], float] = time.time,
        session: requests.Session | None = None,
        meter: CallMeter | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        self._client_id = client_id
        self._api_key = api_key
        self._checksum_key = checksum_key
        self._api_base = api_base.rstrip("/")
        self._clock = clock
        self._http = session if session is not None else requests.Session()
        self._lock = threading.Lock()
        self._meter: CallMeter = meter if meter is not None else Unmetered()
        self._tokens: TokenStore = tokens if tokens is not None else ProcessTokens()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        meter: CallMeter | None = None,
        tokens: TokenStore | None = None,
    ) -> ClickPesaProvider:
        """The provider *settings* describe.

        Raises:
            ValueError: a ClickPesa credential is missing.
        """
        if not (
            settings.clickpesa_client_id
            and settings.clickpesa_api_key
            and settings.clickpesa_checksum_key
        ):
            raise ValueError("HERO_CLICKPESA_CLIENT_ID/API_KEY/CHECKSUM_KEY: all three are needed")
        return cls(
            client_id=settings.clickpesa_client_id,
            api_key=settings.clickpesa_api_key,
            checksum_key=settings.clickpesa_checksum_key,
            api_base=settings.clickpesa_api_base,
            meter=meter,
            tokens=tokens,
        )

    def start_checkout(
        self,
        *,
        topup_id: str,
        address: str,
        amount_cents: int,
        return_url: str,
        cancel_url: str,
    ) -> Checkout:
        """Create a checkout link for *amount_cents* USD; *topup_id* is the order reference.

        The return URL is the one set on the Hosted application; ClickPesa takes none
        per request, so *return_url* and *cancel_url* are not sent.

        Raises:
            ProviderUnavailable: ClickPesa could not be reached or answered 429/5xx, or
                today's call budget is used up (``CallBudgetExhausted``).
            PaymentError: ClickPesa refused (4xx), with its message.
        """
        payload: dict[str, Any] = {
            "orderReference": topup_id,
            "orderCurrency": "USD",
            "totalPrice": format_price(amount_cents),
            "description": "Hero credit",
        }
        payload["checksum"] = clickpesa_checksum(payload, self._checksum_key)
        resp = self._call("POST", "/checkout-link/generate-checkout-url", json_body=payload)
        _raise_for_status(resp, "the checkout link")
        link = _json_object(resp).get("checkoutLink")
        if not isinstance(link, str) or not link:
            raise PaymentError("ClickPesa returned no checkoutLink")
        return Checkout(redirect_url=link, provider_ref=topup_id)

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        return parse_clickpesa_webhook(body, headers, checksum_key=self._checksum_key)

    def query_payment(
        self, order_reference: str, *, background: bool = False
    ) -> list[dict[str, Any]]:
        """Every payment ClickPesa holds for *order_reference* (none when it knows none).

        Args:
            background: a reconciliation re-query, metered on the smaller share.

        Returns:
            ClickPesa's records as they come (``status``, ``collectedAmount`` string,
            ``collectedCurrency``, ``createdAt`` ISO 8601, ``id``, ``orderReference``);
            JSON numbers arrive as ``JsonNumber`` (a float that keeps its text).

        Raises:
            ProviderUnavailable: ClickPesa could not be reached or answered 429/5xx, or
                today's call budget is used up (``CallBudgetExhausted``).
            PaymentError: ClickPesa refused (4xx other than 404) or answered nonsense.
        """
        path = f"/payments/{quote(order_reference, safe='')}"
        resp = self._call("GET", path, background=background)
        if resp.status_code == 404:
            return []
        _raise_for_status(resp, f"payment {order_reference}")
        records = _json(resp)
        if isinstance(records, dict):  # tolerate a single object where a list is documented
            records = [records]
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise PaymentError(f"ClickPesa answered a non-list for payment {order_reference}")
        return records

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        background: bool = False,
    ) -> requests.Response:
        """Call ClickPesa with the shared token, fetching a new one once on 401."""
        token = self._bearer(background=background)
        resp = self._send(method, path, json_body, token, background)
        if resp.status_code == 401:
            token = self._bearer(background=background, stale=token)
            resp = self._send(method, path, json_body, token, background)
        return resp

    def _bearer(self, *, background: bool, stale: str | None = None) -> str:
        """The stored token, or a new one when it expired or is the *stale* one refused."""
        with self._lock:
            token = self._tokens.load(self._clock())
            if token is not None and token != stale:
                return token
            resp = self._request(
                "POST",
                "/generate-token",
                headers={"client-id": self._client_id, "api-key": self._api_key},
                background=background,
            )
            _raise_for_status(resp, "a token")
            token = _json_object(resp).get("token")
            if not isinstance(token, str) or not token:
                raise PaymentError("ClickPesa returned no token")
            self._tokens.save(token, self._clock() + TOKEN_TTL_S)
            return token

    def _send(
        self,
        method: str,
        path: str,
        json_body: dict[str, Any] | None,
        token: str,
        background: bool,
    ) -> requests.Response:
        return self._request(
            method,
            path,
            headers={"Authorization": token},
            json_body=json_body,
            background=background,
        )

    def _request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        json_body: dict[str, Any] | None = None,
        background: bool = False,
    ) -> requests.Response:
        self._meter.take(background=background)
        try:
            return self._http.request(
                method, self._api_base + path, headers=headers, json=json_body, timeout=TIMEOUT_S
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"ClickPesa could not be reached: {exc}") from exc


def _raise_for_status(resp: requests.Response, what: str) -> None:
    if resp.status_code < 400:
        return
    message = _message(resp)
    if resp.status_code == 429 or resp.status_code >= 500:
        raise ProviderUnavailable(f"ClickPesa answered {resp.status_code} for {what}: {message}")
    raise PaymentError(f"ClickPesa refused {what} ({resp.status_code}): {message}")


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200]
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])[:200]
    return resp.text[:200]


def _json(resp: requests.Response) -> Any:
    try:
        return parse_json(resp.content)
    except (ValueError, RecursionError):
        raise PaymentError(
            f"ClickPesa answered {resp.status_code} with a body that is not JSON"
        ) from None


def _json_object(resp: requests.Response) -> dict[str, Any]:
    body = _json(resp)
    if not isinstance(body, dict):
        raise PaymentError(f"ClickPesa answered {resp.status_code} with JSON that is not an object")
    return body
