"""Another account reads nothing of Alice's by changing ids: statement, CSV, receipt, PDF."""

from __future__ import annotations

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import LedgerEntry
from tests.support.login import BOB_KEY
from tests.support.receipts import pay
from tests.support.web import HTML, Clock, Sent, account_of, entry, logged_in, make_app

#: What only Alice's pages may show.
SECRETS = ("pi_alice_secret", "$43.21", "43.21", "4321", "t_alice")


@pytest.fixture
def client(sqlite_db: str) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), Sent()))


@pytest.fixture
def alice_payment(client) -> int:
    account_of()
    payment_id = pay(4321, key="pi_alice_secret", topup_id="t_alice")
    entry(account_of(), -5, kind="usage", ref="usage:alice", details={"records": 1})
    return payment_id


def _shows_nothing_of_alice(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, secret


def test_alice_sees_her_own_receipt(client, alice_payment: int) -> None:
    alice = logged_in(client)
    assert alice.get(f"/payments/{alice_payment}/receipt").status_code == 200
    assert alice.get(f"/payments/{alice_payment}/receipt.pdf").status_code == 200


@pytest.mark.parametrize("suffix", ["receipt", "receipt.pdf"])
@pytest.mark.parametrize("accept", [HTML, None])
def test_bob_gets_the_same_404_for_alices_receipt_as_for_none(
    client, alice_payment: int, suffix: str, accept
) -> None:
    bob = logged_in(client, BOB_KEY)
    theirs = bob.get(f"/payments/{alice_payment}/{suffix}", headers=accept)
    missing = bob.get(f"/payments/{alice_payment + 1000}/{suffix}", headers=accept)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.text == missing.text
    _shows_nothing_of_alice(theirs.text)


def test_bobs_statement_and_csv_hold_nothing_of_alice_at_any_cursor(
    client, alice_payment: int
) -> None:
    bob = logged_in(client, BOB_KEY)
    entry(account_of(BOB_KEY), 100, ref="adj:bob", details={"reason": "bob's"})
    top = LedgerEntry.select().order_by(LedgerEntry.id.desc()).get().id
    for cursor in range(1, top + 2):
        for path in (f"/statement?cursor={cursor}", f"/statement.csv?cursor={cursor}"):
            answer = bob.get(path, headers=HTML)
            assert answer.status_code == 200
            _shows_nothing_of_alice(answer.text)
    for kind in ("payment", "usage"):
        assert bob.get(f"/statement?kind={kind}").json["entries"] == []
    assert [e["description"] for e in bob.get("/statement").json["entries"]] == [
        "Adjustment by support: bob's"
    ]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    payment_id=st.integers(min_value=-5, max_value=2**70),
    suffix=st.sampled_from(["receipt", "receipt.pdf"]),
)
def test_no_receipt_id_opens_alices_payment_to_bob(
    client, alice_payment: int, payment_id: int, suffix: str
) -> None:
    if not hasattr(client, "_bob"):
        client._bob = logged_in(client, BOB_KEY)
    for candidate in (payment_id, alice_payment):
        answer = client._bob.get(f"/payments/{candidate}/{suffix}", headers=HTML)
        assert answer.status_code == 404
        _shows_nothing_of_alice(answer.text)
