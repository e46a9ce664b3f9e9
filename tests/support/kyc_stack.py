"""Identity verification on the production shape: a gateway and a worker on PostgreSQL and
RabbitMQ, configured for the stand-in iDenfy (tests/support/fake_idenfy.py), and a user
logged in through the real login page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from models.kyc import KycVerification
from tests.support.fake_idenfy import FakeIdenfy, fake_idenfy
from tests.support.login import JSON, LoggedIn, login
from tests.support.stack import Stack

API_KEY, API_SECRET, SIGNING_KEY = "idenfy-key", "idenfy-secret", "idenfy-signing-key"


@pytest.fixture
def idenfy() -> Iterator[FakeIdenfy]:
    with fake_idenfy(API_KEY, API_SECRET, SIGNING_KEY) as fake:
        fake.retry_delay_s = 0.05
        yield fake


@pytest.fixture
def kyc(pg_stack: Stack, idenfy: FakeIdenfy) -> tuple[str, requests.Session, LoggedIn]:
    """The gateway's URL, a browser-like session and the user it logged in."""
    pg_stack.env.update(
        HERO_KYC_PROVIDER="idenfy",
        HERO_KYC_REQUIRED_FOR="plan",
        HERO_IDENFY_API_KEY=API_KEY,
        HERO_IDENFY_API_SECRET=API_SECRET,
        HERO_IDENFY_SIGNING_KEY=SIGNING_KEY,
        HERO_IDENFY_API_BASE=idenfy.url,
    )
    url = pg_stack.gateway()
    pg_stack.worker()
    idenfy.webhook_url = f"{url}/webhooks/idenfy"
    session = requests.Session()
    return url, session, login(session, url)


def start(url: str, session: requests.Session, user: LoggedIn) -> str:
    """Start a verification as the page does; the scanRef the stand-in made for it."""
    answer = session.post(
        f"{url}/kyc", data={"csrf_token": user.csrf_token}, headers=JSON, timeout=30
    )
    assert answer.status_code == 201, answer.text
    row = (
        KycVerification.select()
        .where(KycVerification.scan_ref.is_null(False))
        .order_by(KycVerification.updated_at.desc(), KycVerification.id.desc())
        .get()
    )
    return str(row.scan_ref)
