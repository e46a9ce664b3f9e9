"""Credit state: computed and sequenced in the ledger's transaction, kept newest-first by
the node agent, answered from memory with its age, and the route never a 500."""

from __future__ import annotations

import json

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import credit
from actors.ledger import post
from models import Account, Notification, write_transaction
from models.credit import CreditState
from node_agent.credit import CreditBook
from node_agent.intake import create_intake_app
from runtime.credit_publisher import seq_of
from tests.support.deps import DepsSwitch
from wire.address import parse_address

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
HEX = parse_address(USER).packed.hex()
TOKEN = "credit-token-of-this-test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def account(sqlite_db: str) -> Account:
    return Account.create(address=USER)


@pytest.fixture
def floor(deps: DepsSwitch) -> DepsSwitch:
    return deps


def charge(account: Account, cents: int, ref: str) -> None:
    with write_transaction():
        post(account, amount_cents=cents, kind="adjustment", ref=ref)


def test_every_balance_change_bumps_the_sequence_and_leaves_the_state_pending(account) -> None:
    charge(account, 1000, "a")
    charge(account, -600, "b")
    row = CreditState.get()
    assert (row.state, row.balance_cents, row.seq, row.pending) == ("low", 400, 2, True)


def test_a_replayed_entry_changes_no_state(account) -> None:
    charge(account, 1000, "a")
    charge(account, 1000, "a")
    assert CreditState.get().seq == 1


def test_going_to_the_floor_is_exhausted_and_notified_once_per_crossing(account) -> None:
    charge(account, 100, "a")
    charge(account, -100, "b")
    charge(account, -50, "c")
    row = CreditState.get()
    assert row.state == "exhausted" and row.exhausted_since is not None
    charge(account, 500, "d")
    assert CreditState.get().exhausted_since is None
    charge(account, -600, "e")
    kinds = [n.kind for n in Notification.select().where(Notification.kind == "credit_exhausted")]
    assert kinds == ["credit_exhausted", "credit_exhausted"]


def test_the_floor_and_an_allowance_move_the_limit(account, floor) -> None:
    floor.set(credit_policy=credit.CreditPolicy(floor_cents=200))
    charge(account, 200, "a")
    assert CreditState.get().state == "exhausted"
    CreditState.update(allowance_cents=300).execute()
    charge(account, -250, "b")
    assert CreditState.get().state == "low"  # -50 is above 200 - 300


@given(
    balance=st.integers(-(10**12), 10**12),
    floor_cents=st.integers(-(10**6), 10**6),
    allowance=st.integers(0, 10**6),
    suspended=st.booleans(),
)
def test_classify_is_exhausted_exactly_at_or_under_the_limit(
    balance: int, floor_cents: int, allowance: int, suspended: bool
) -> None:
    state = credit.classify(
        balance, floor_cents=floor_cents, allowance_cents=allowance, suspended=suspended
    )
    under = balance <= floor_cents - allowance
    assert (state in ("exhausted", "suspended")) == under
    assert state != "suspended" or suspended


def value(state: str, seq: int, balance: int = 0) -> bytes:
    return json.dumps({"state": state, "seq": seq, "balance_cents": balance}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_book_keeps_the_highest_sequence_whatever_order_values_come_in() -> None:
    book = CreditBook(stale_s=60, clock=Clock())
    book.touch()
    assert book.apply(HEX, value("exhausted", 5))
    assert not book.apply(HEX, value("ok", 4))
    assert not book.apply(HEX, b"not json")
    assert book.answer(HEX)["state"] == "exhausted"


def test_the_book_answers_unknown_before_loading_for_strangers_and_when_stale() -> None:
    clock = Clock()
    book = CreditBook(stale_s=10, clock=clock)
    book.apply(HEX, value("ok", 1, 700))
    assert book.answer(HEX)["state"] == "unknown" and book.answer(HEX)["age_s"] is None
    book.touch()
    clock.now += 4
    fresh = book.answer(HEX)
    assert (fresh["state"], fresh["age_s"], fresh["balance_cents"]) == ("ok", 4.0, 700)
    assert book.answer("00" * 16)["state"] == "unknown"
    clock.now += 7
    stale = book.answer(HEX)
    assert (stale["state"], stale["last_state"], stale["stale"]) == ("unknown", "ok", True)


def test_a_bucket_value_without_a_number_is_sequence_zero() -> None:
    assert [seq_of(v) for v in (b'{"seq": 3}', b'{"seq": "3"}', b"[]", None)] == [3, 0, 0, 0]


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    book = CreditBook(stale_s=60)
    book.touch()
    book.apply(HEX, value("exhausted", 2, -5))
    app = create_intake_app(record=lambda raw: raw, token=TOKEN, credit=book)
    return falcon.testing.TestClient(app)


def test_the_route_answers_the_state_for_any_spelling_of_the_address(client) -> None:
    answer = client.simulate_get("/credit/0520:C662:fd00:9e92:5d99:34ed:0ab8:82ab", headers=AUTH)
    assert answer.status_code == 200
    assert (answer.json["state"], answer.json["address"]) == ("exhausted", USER)


def test_the_route_wants_the_token_and_no_web_page(client) -> None:
    assert client.simulate_get(f"/credit/{USER}").status_code == 401
    from_page = client.simulate_get(f"/credit/{USER}", headers={**AUTH, "Origin": "http://x"})
    assert from_page.status_code == 403


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(text=st.text(min_size=1, max_size=80).filter(lambda t: "/" not in t and "?" not in t))
def test_the_route_answers_any_address_text_with_a_state_or_a_400(client, text: str) -> None:
    answer = client.simulate_get(f"/credit/{text}", headers=AUTH)
    assert answer.status_code in (200, 400, 404), answer.text
    if answer.status_code == 400:
        assert answer.json["field"] == "address"
    if answer.status_code == 200:
        assert answer.json["state"] in ("ok", "low", "exhausted", "suspended", "unknown")


def test_the_exhausted_email_says_what_stops_and_when_vms_may_be_suspended() -> None:
    from actors.notify import render

    subject, text = render(
        "credit_exhausted", {"balance_cents": -50, "limit_cents": 0, "suspend_after_s": 86_400}
    )
    assert subject == "Your Hero credit is used up"
    assert "-$0.50" in text and "24 hours" in text and "still charged" in text
