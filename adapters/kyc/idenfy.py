"""iDenfy: a verification session by ``POST /api/v2/token``, results by signed webhook,
and one session's verdict by ``POST /api/v2/status`` when its webhook never came.

Follows iDenfy's "Generate token" page and its KYC OpenAPI file: HTTP Basic auth (API key
and secret), JSON body with ``clientId`` and ``tokenType``, a 201 (any 2xx accepted) with
``scanRef`` and ``redirectUrl``; errors carry ``identifier`` and ``message``. The status
call follows the "Data retrieval" page: Basic auth, body ``{"scanRef": ...}``; iDenfy asks
not to poll it, so it is the fallback for a missed webhook only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests

from adapters.kyc.base import (
    KycAnswerInvalid,
    KycKeysRefused,
    KycRetryLater,
    KycSession,
    KycUnavailable,
)
from adapters.kyc.idenfy_status import parse_idenfy_status
from adapters.kyc.idenfy_webhook import parse_idenfy_webhook
from messages.facts import Fact, KycChecked

DEFAULT_API_BASE = "https://ivs.idenfy.com"
#: How long the token may be used to start (s): short, so an abandoned session resolves.
EXPIRY_TIME_S = 3600
#: How long the user has to finish once started (s), iDenfy's default.
SESSION_LENGTH_S = 600
TIMEOUT_S = 30
#: Connect and read timeout of a status call (s): a worker asks about several sessions.
STATUS_TIMEOUT_S = 10


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

    def status(self, scan_ref: str) -> KycChecked:
        """iDenfy's current verdict on *scan_ref* (one ``POST /api/v2/status``).

        Raises:
            KycRetryLater: no answer, a timeout, a 5xx or a 429; the call may work later.
            KycKeysRefused: 401 or 403, the API key pair is wrong.
            KycAnswerInvalid: any other refusal (e.g. an unknown scanRef), or an answer
                that is not a status (naming the field).
        """
        try:
            resp = self._post(
                f"{self._api_base}/api/v2/status",
                json={"scanRef": scan_ref},
                auth=self._auth,
                timeout=STATUS_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            raise KycRetryLater(
                f"iDenfy could not be reached ({type(exc).__name__})", answered=False
            ) from None
        code = resp.status_code
        if code in (401, 403):
            raise KycKeysRefused(
                f"iDenfy refused the API keys ({_identifier(resp)}): "
                "check HERO_IDENFY_API_KEY and HERO_IDENFY_API_SECRET"
            )
        if code == 429 or code >= 500:
            raise KycRetryLater(
                f"iDenfy answered {code} ({_identifier(resp)}); try again later", answered=True
            )
        if not 200 <= code < 300:
            raise KycAnswerInvalid(f"iDenfy refused the status call: {code} {_identifier(resp)}")
        result = parse_idenfy_status(resp.content, scan_ref=scan_ref)
        return KycChecked(result=result.as_message())


def _identifier(resp: Any) -> str:
    """The error's ``identifier`` (printable, short), or the HTTP code when there is none."""
    found = _json(resp).get("identifier")
    text = found if isinstance(found, str) else ""
    text = "".join(c for c in text if c.isascii() and c.isprintable())[:60]
    return text or str(resp.status_code)


def _json(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
