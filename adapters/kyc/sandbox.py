"""The KYC sandbox: development only. Its verification page is the gateway's own, and its
Approve and Deny buttons post a correctly signed iDenfy-format webhook to the real
``/webhooks/idenfy`` route, so the whole path runs with no outside service."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests

from adapters.kyc.base import KycSession, KycUnavailable
from adapters.kyc.idenfy_webhook import parse_idenfy_webhook, sign
from messages.facts import Fact

#: The sandbox's outcomes: button -> (overall, document code, face code).
OUTCOMES = {
    "approve": ("APPROVED", "DOC_VALIDATED", "FACE_MATCH"),
    "deny": ("DENIED", "DOC_NOT_FOUND", "NO_FACE_FOUND"),
}


class SandboxKycProvider:
    """Pretend verification that travels the whole real webhook path."""

    name = "sandbox"

    def __init__(
        self,
        *,
        public_url: str,
        signing_key: str,
        clock: Callable[[], float] = time.time,
        post: Callable[..., Any] = requests.post,
    ) -> None:
        self._public_url = public_url.rstrip("/")
        self._signing_key = signing_key
        self._clock = clock
        self._post = post

    def start(self, *, client_id: str, return_url: str) -> KycSession:
        scan_ref = str(uuid.uuid4())
        return KycSession(
            redirect_url=f"{self._public_url}/kyc/sandbox/{scan_ref}",
            scan_ref=scan_ref,
            expires_in_s=3600,
        )

    def parse_webhook(self, body: bytes, headers: dict[str, str]) -> list[Fact]:
        return parse_idenfy_webhook(body, headers, signing_key=self._signing_key, source="sandbox")

    def decide(self, *, scan_ref: str, client_id: str, outcome: str) -> None:
        """Post the signed final result of *outcome* (``approve`` or ``deny``).

        Raises:
            KycUnavailable: the webhook route did not answer 200.
        """
        overall, document, face = OUTCOMES[outcome]
        now = int(self._clock())
        body = json.dumps(
            {
                "final": True,
                "platform": "PC",
                "status": {
                    "overall": overall,
                    "autoDocument": document,
                    "autoFace": face,
                    "manualDocument": None,
                    "manualFace": None,
                    "fraudTags": [],
                    "mismatchTags": [],
                },
                "scanRef": scan_ref,
                "clientId": client_id,
                "externalRef": None,
                "startTime": now - 60,
                "finishTime": now,
            }
        ).encode()
        resp = self._post(
            f"{self._public_url}/webhooks/idenfy",
            data=body,
            timeout=30,
            headers={
                "Content-Type": "application/json",
                "Idenfy-Event-Type": "IDENTIFICATION_AUTO_FINISHED",
                "Idenfy-Signature": sign(body, self._signing_key),
            },
        )
        if resp.status_code != 200:
            raise KycUnavailable(f"the webhook route answered {resp.status_code}")
