"""Email out: SendGrid's v3 HTTP API in production, a folder of .eml files in development."""

from __future__ import annotations

import datetime as dt
import email.message
import os
import uuid
from typing import Protocol

import requests

from models.accounts import validate_email
from models.errors import HeroError, InvalidEmail


class EmailError(HeroError):
    """An email could not be handed over (try again later)."""


def recipient(to: str) -> str:
    """*to* checked as an address (a stored value may predate the check).

    Raises:
        EmailError: naming what is wrong, so one bad address never stops a batch.
    """
    try:
        return validate_email(to)
    except InvalidEmail as exc:
        raise EmailError(f"to: {exc}") from None


class EmailSender(Protocol):
    """Something that delivers one plain-text email."""

    def send(self, *, to: str, subject: str, text: str) -> None:
        """Raises: EmailError when it was not accepted."""
        ...


class SendGridSender:
    """``POST /v3/mail/send`` with a bearer API key; 202 means accepted."""

    def __init__(
        self,
        *,
        api_key: str,
        sender: str,
        api_base: str = "https://api.sendgrid.com",
        session: requests.Session | None = None,
    ) -> None:
        self._api_key = api_key
        self._sender = sender
        self._url = api_base.rstrip("/") + "/v3/mail/send"
        self._http = session or requests.Session()

    def send(self, *, to: str, subject: str, text: str) -> None:
        body = {
            "personalizations": [{"to": [{"email": recipient(to)}]}],
            "from": {"email": self._sender},
            "subject": subject,
            "content": [{"type": "text/plain", "value": text}],
        }
        try:
            resp = self._http.post(
                self._url,
                json=body,
                timeout=15,
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        except requests.RequestException as exc:
            raise EmailError(f"SendGrid could not be reached: {exc}") from None
        if resp.status_code != 202:
            raise EmailError(f"SendGrid answered {resp.status_code}: {resp.text[:300]}")


class FolderSender:
    """Write each email as an .eml file into a folder (development: nothing leaves)."""

    def __init__(self, *, folder: str, sender: str) -> None:
        self._folder = folder
        self._sender = sender

    def send(self, *, to: str, subject: str, text: str) -> None:
        message = email.message.EmailMessage()
        message["From"] = self._sender
        message["To"] = recipient(to)
        message["Subject"] = subject
        message.set_content(text)
        os.makedirs(self._folder, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        path = os.path.join(self._folder, f"{stamp}-{uuid.uuid4().hex[:8]}.eml")
        with open(path, "wb") as fh:
            fh.write(bytes(message))
