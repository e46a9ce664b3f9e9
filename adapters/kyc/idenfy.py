"""iDenfy: a verification session by ``POST /api/v2/token``, results by signed webhook.

Follows iDenfy's "Generate token" page and its KYC OpenAPI file: HTTP Basic auth (API key
and secret), JSON body with ``clientId`` and ``tokenType``, a 201 (any 2xx accepted) with
``scanRef`` and ``redirectUrl``; errors carry ``identifier`` and ``message``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from adapters.kyc.base import KycSession, KycUnavailable
from adapters.kyc.idenfy_webhook import parse_idenfy_webhook
from messages.facts import Fact

DEFAULT_API_BASE = "https://ivs.idenfy.com"
#: How long the token may be used to start (s): short, so an abandoned session resolves.
EXPIRY_TIME_S = 3600
#: How long the user has to finish once started (s), iDenfy's default.
SESSION_LENGTH_S = 600
TIMEOUT_S = 30


class IdenfyProvider:
    """iDenfy's hosted verification (redirect flow)."""

    name = "idenfy"

    def __init__(
        self,
        *,
        api_key: str,
        api_secret: str,
        signing_key: str,
        api_base: str = DEFAULT_API_BASE,
        post: Callable[..., Any] = requests.post,
    ) -> None:
        self._auth = (api_key, api_secret)
        self._signing_key = signing_key
        self._api_base = api_base.rstrip("/")
        self._post = post

    def start(self, *, client_id: str, return_url: str) -> KycSession:
        body = {
            "clientId": client_id,
            "tokenType": "IDENTIFICATION",
            "expiryTime": EXPIRY_TIME_S,
            "sessionLength": SESSION_LENGTH_S,
            "successUrl": f"{return_url}?r=success",
            "errorUrl": f"{return_url}?r=error",
            "unverifiedUrl": f"{return_url}?r=unverified",
        }
        try:
            resp = self._post(
                f"{self._api_base}/api/v2/token", json=body, auth=self._auth, timeout=TIMEOUT_S
            )
        except requests.RequestException as exc:
            raise KycUnavailable(f"iDenfy could not be reached ({type(exc).__name__})") from None
        data = _json(resp)
        if not 200 <= resp.status_code < 300:
            identifier = str(data.get("identifier") or resp.status_code)[:60]
            raise KycUnavailable(f"iDenfy refused to start a verification ({identifier})")
        scan_ref, redirect = data.get("scanRef"), data.get("redirectUrl")
        if not isinstance(scan_ref, str) or not isinstance(redirect, str) or not scan_ref:
            raise KycUnavailable("iDenfy answered without scanRef or redirectUrl")
        if not redirect.startswith(("https://", "http://")) or len(redirect) > 500:
            raise KycUnavailable("iDenfy answered with an unusable redirectUrl")
        expiry = data.get("expiryTime")
        return KycSession(
            redirect_url=redirect,
            scan_ref=scan_ref[:64],
            expires_in_s=expiry if isinstance(expiry, int) and expiry > 0 else EXPIRY_TIME_S,
        )

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        return parse_idenfy_webhook(body, headers, signing_key=self._signing_key)


def _json(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
