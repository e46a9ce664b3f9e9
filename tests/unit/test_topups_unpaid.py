"""Top-ups started and not paid: listed with their state, expiring after a day, resumed
or cancelled by their owner only; their status page says unknown, expired or cancelled
and stops refreshing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dramatiq
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.payments import record_topup
from actors.topups import TOPUP_TTL, cancel_topup, note_checkout, topup_state
from models import TopUp
from tests.support.login import ALICE_KEY, BOB_KEY, address_of
from tests.support.web import HTML, JSON, PUBLIC_URL, Clock, Sent, account_of, logged_in, make_app
from wire.times import utcnow

ALICE = address_of(ALICE_KEY)
BOB = address_of(BOB_KEY)
REFRESH = 'id="refresher"'


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def actions(sent: Sent) -> list[tuple[str, dict[str, Any]]]:
    """The messages sent, less the ``ensure_account`` every login sends."""
    return [call for call in sent.calls if call[0] != "ensure_account"]


def started(
    public_id: str,
    *,
    age: dt.timedelta = dt.timedelta(minutes=5),
    status: str = "started",
    url: str | None = None,
    key=ALICE_KEY,
    amount_cents: int = 2500,
) -> TopUp:
    return TopUp.create(
        public_id=public_id,
        account=account_of(key),
        provider="sandbox",
        amount_cents=amount_cents,
        status=status,
        checkout_url=url,
        created_at=utcnow() - age,
    )


def test_a_started_top_up_expires_a_day_after_it_was_made() -> None:
    t0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    assert topup_state("started", t0, now=t0 + TOPUP_TTL - dt.timedelta(seconds=1)) == "started"
    assert topup_state("started", t0, now=t0 + TOPUP_TTL) == "expired"
    for final in ("paid", "failed", "cancelled"):
        assert topup_state(final, t0, now=t0 + 10 * TOPUP_TTL) == final


def test_the_top_up_page_lists_unpaid_top_ups_with_their_state(client) -> None:
    alice = logged_in(client)
    started("HEROLIVE", url=f"{PUBLIC_URL}/sandbox/checkout/HEROLIVE")
    started("HEROOLD", age=dt.timedelta(hours=25))
    started("HERODROP", status="cancelled")
    started("HEROPAID", status="paid")
    started("HEROBOB", key=BOB_KEY)

    page = alice.get("/topup", headers=HTML).text

    assert 'id="topup-HEROLIVE" data-state="started"' in page
    assert 'id="topup-HEROOLD" data-state="expired"' in page
    assert 'id="topup-HERODROP" data-state="cancelled"' in page
    assert "HEROPAID" not in page and "HEROBOB" not in page
    assert "/topups/HEROLIVE/cancel" in page and "/topups/HEROOLD/cancel" not in page
    assert REFRESH not in page


def test_resuming_a_live_top_up_goes_back_to_its_checkout(client, sent: Sent) -> None:
    alice = logged_in(client)
    started("HEROLIVE", url="https://checkout.stripe.com/c/pay/cs_test_1")

    answer = alice.post_form("/topups/HEROLIVE/resume", {"csrf_token": alice.csrf()}, HTML)

    assert answer.status_code == 303
    assert answer.headers["location"] == "https://checkout.stripe.com/c/pay/cs_test_1"
    assert actions(sent) == []


def test_resuming_an_expired_top_up_starts_a_new_one_of_the_same_amount(client, sent: Sent) -> None:
    alice = logged_in(client)
    started("HEROOLD", age=dt.timedelta(days=2), url="https://old", amount_cents=1250)

    answer = alice.post_form("/topups/HEROOLD/resume", {"csrf_token": alice.csrf()}, HTML)

    assert answer.status_code == 303
    assert answer.headers["location"].startswith(f"{PUBLIC_URL}/sandbox/checkout/HERO")
    assert [name for name, _ in actions(sent)] == ["record_topup", "note_checkout"]
    assert actions(sent)[0][1]["amount_cents"] == 1250 and actions(sent)[0][1]["address"] == ALICE


def test_a_started_top_up_without_a_checkout_is_replaced_when_resumed(client, sent: Sent) -> None:
    alice = logged_in(client)
    started("HERONOURL")

    alice.post_form("/topups/HERONOURL/resume", {"csrf_token": alice.csrf()}, HTML)

    assert [name for name, _ in actions(sent)] == ["cancel_topup", "record_topup", "note_checkout"]
    assert actions(sent)[0][1] == {"public_id": "HERONOURL", "address": ALICE}


def test_cancelling_sends_one_message_and_the_list_shows_it_cancelled(client, sent: Sent) -> None:
    alice = logged_in(client)
    started("HEROLIVE", url="https://x")

    answer = alice.post_form("/topups/HEROLIVE/cancel", {"csrf_token": alice.csrf()}, HTML)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/topup?cancelled=HEROLIVE#unpaid"
    assert actions(sent) == [("cancel_topup", {"public_id": "HEROLIVE", "address": ALICE})]
    waiting = alice.get("/topup?cancelled=HEROLIVE", headers=HTML).text
    assert "Cancelling…" in waiting and REFRESH in waiting  # until the worker has done it
    assert cancel_topup(**actions(sent)[0][1]) == "cancelled"  # what the worker does
    done = alice.get("/topup?cancelled=HEROLIVE", headers=HTML).text
    assert 'id="cancelled-notice"' in done and REFRESH not in done
    assert 'data-state="cancelled"' in done


def test_a_cancelling_page_looks_again_at_a_new_address_and_stops_after_a_minute(
    client,
) -> None:
    # A refresh to the address the page has, #unpaid included, is only a scroll in browsers
    alice = logged_in(client)
    started("HEROSLOW", url="https://x")
    first = alice.get("/topup?cancelled=HEROSLOW", headers=HTML).text
    assert (
        'data-refresh-seconds="1" data-refresh-url="/topup?cancelled=HEROSLOW&amp;look=1#unpaid"'
        in first
    )
    later = alice.get("/topup?cancelled=HEROSLOW&look=59", headers=HTML).text
    assert "look=60#unpaid" in later
    last = alice.get("/topup?cancelled=HEROSLOW&look=60", headers=HTML).text
    assert "Cancelling…" in last and REFRESH not in last
    odd = alice.get("/topup?cancelled=HEROSLOW&look=-3", headers=HTML).text
    assert "look=1#unpaid" in odd


def test_the_cancel_actor_touches_only_the_owners_started_top_up(sqlite_db: str) -> None:
    started("HEROA")
    started("HEROPAID", status="paid")
    assert cancel_topup("HEROA", BOB) == "not_found"
    assert cancel_topup("HEROA", "not an address") == "not_found"
    assert cancel_topup("HEROPAID", ALICE) == "not_started"
    assert cancel_topup("HEROA", ALICE) == "cancelled"
    assert cancel_topup("HEROA", ALICE) == "not_started"  # redelivered: harmless
    assert TopUp.get(TopUp.public_id == "HEROPAID").status == "paid"


def test_note_checkout_waits_for_the_record_then_keeps_the_link(sqlite_db: str) -> None:
    account_of()
    with pytest.raises(dramatiq.Retry):
        note_checkout("HERONEW", ALICE, "cs_1", "https://checkout.example/cs_1")
    record_topup("HERONEW", ALICE, "sandbox", 500, None)
    assert note_checkout("HERONEW", ALICE, "cs_1", "https://checkout.example/cs_1") == "noted"
    row = TopUp.get(TopUp.public_id == "HERONEW")
    assert (row.provider_ref, row.checkout_url) == ("cs_1", "https://checkout.example/cs_1")


@pytest.mark.parametrize("action", ["resume", "cancel"])
def test_another_account_cannot_act_on_your_top_up(client, sent: Sent, action: str) -> None:
    started("HEROALICE", url="https://alice-checkout")
    bob = logged_in(client, BOB_KEY)

    answer = bob.post_form(f"/topups/HEROALICE/{action}", {"csrf_token": bob.csrf()}, HTML)

    assert answer.status_code == 404 and "alice-checkout" not in answer.text
    assert actions(sent) == []
    assert TopUp.get(TopUp.public_id == "HEROALICE").status == "started"


def test_resume_and_cancel_need_the_forms_csrf_token(client, sent: Sent) -> None:
    alice = logged_in(client)
    started("HEROLIVE", url="https://x")
    for action in ("resume", "cancel"):
        assert alice.post_form(f"/topups/HEROLIVE/{action}", {}, HTML).status_code == 403
    assert actions(sent) == []


@pytest.mark.parametrize(
    ("status", "age", "heading"),
    [
        ("started", dt.timedelta(days=2), "This top-up expired"),
        ("cancelled", dt.timedelta(minutes=1), "This top-up is cancelled"),
    ],
)
def test_the_status_page_of_an_ended_top_up_says_so_and_stops_refreshing(
    client, status: str, age: dt.timedelta, heading: str
) -> None:
    alice = logged_in(client)
    started("HEROEND", status=status, age=age)
    page = alice.get("/topups/HEROEND", headers=HTML).text
    assert heading in page and REFRESH not in page
    expected = "expired" if status == "started" else status
    assert alice.get("/topups/HEROEND", headers=JSON).json["status"] == expected


def test_the_status_page_of_an_unknown_top_up_says_so_after_a_minute(client) -> None:
    alice = logged_in(client)
    first = alice.get("/topups/HERONEVER", headers=HTML).text
    assert 'data-refresh-seconds="2" data-refresh-url="/topups/HERONEVER?waited=1"' in first
    later = alice.get("/topups/HERONEVER?waited=29", headers=HTML).text
    assert "waited=30" in later
    last = alice.get("/topups/HERONEVER?waited=30", headers=HTML).text
    assert 'id="unknown-topup"' in last and REFRESH not in last
    assert alice.get("/topups/HERONEVER?waited=99999999", headers=HTML).status_code == 200


def test_a_waiting_top_up_refreshes_and_offers_the_list(client) -> None:
    alice = logged_in(client)
    started("HEROWAIT")
    page = alice.get("/topups/HEROWAIT", headers=HTML).text
    assert 'data-refresh-seconds="2" data-refresh-url="/topups/HEROWAIT?waited=1"' in page
    assert 'href="/topup#unpaid"' in page


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    topup_id=st.text(
        alphabet=st.characters(codec="utf-8", exclude_characters="/?#%"), min_size=1, max_size=80
    ),
    action=st.sampled_from(["", "/resume", "/cancel"]),
    waited=st.text(max_size=12),
)
def test_no_top_up_route_answers_500(client, topup_id: str, action: str, waited: str) -> None:
    if not hasattr(client, "_alice"):
        client._alice = logged_in(client)
        started("HEROMINE", url="https://x")
    alice = client._alice
    for candidate in (topup_id, "HEROMINE"):
        if action:
            answer = alice.post_form(
                f"/topups/{candidate}{action}", {"csrf_token": alice.csrf()}, HTML
            )
        else:
            answer = alice.request(
                "GET", f"/topups/{candidate}", params={"waited": waited}, headers=HTML
            )
        assert answer.status_code < 500, (candidate, action, answer.status_code)
