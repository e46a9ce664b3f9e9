"""The account settings page: an email proven by its link before mail goes to it, the
kinds of email wanted, and the browsers logged in with "log out everywhere"."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors.accounts import set_email
from actors.email_verify import send_email_link, set_email_choices, verify_email
from actors.notify import send_pending
from gateway.account_view import short_agent
from models import Account, Notification, Session
from models.email_prefs import EmailVerification, token_hash
from tests.support.deps import DepsSwitch
from tests.support.login import ALICE_KEY, BOB_KEY, address_of
from tests.support.web import HTML, JSON, Clock, Sent, account_of, logged_in, make_app
from wire.times import utcnow

ALICE = address_of(ALICE_KEY)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


class Outbox:
    """An email sender that keeps what it was given."""

    def __init__(self) -> None:
        self.mails: list[dict[str, str]] = []

    def send(self, *, to: str, subject: str, text: str) -> None:
        self.mails.append({"to": to, "subject": subject, "text": text})

    def link(self) -> str:
        found = re.search(r"https?://\S+/account/email/verify\?token=\S+", self.mails[-1]["text"])
        assert found, self.mails[-1]["text"]
        parts = urlsplit(found.group(0))
        return f"{parts.path}?{parts.query}"


@pytest.fixture
def outbox(deps: DepsSwitch) -> Outbox:
    box = Outbox()
    deps.set(email_sender=box, public_url="http://hero.test")
    return box


@pytest.fixture
def sent() -> Sent:
    return Sent()


@pytest.fixture
def client(sqlite_db: str, sent: Sent) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(make_app(Clock(), sent))


def note(account: Account, kind: str, key: str) -> None:
    payload = {"tier": "week", "amount_cents": 500, "balance_cents": 100}
    Notification.create(account=account, kind=kind, key=key, payload=json.dumps(payload))


def run(sent: Sent, name: str) -> str:
    """Carry out the last message named *name*, as the worker would."""
    kwargs = next(k for n, k in reversed(sent.calls) if n == name)
    actors: dict[str, Callable[..., object]] = {
        "set_email": set_email,
        "verify_email": verify_email,
        "send_email_link": send_email_link,
        "set_email_choices": set_email_choices,
    }
    actor = actors[name]
    return str(actor(**kwargs))


def test_a_new_email_gets_a_link_and_nothing_else_until_it_is_opened(
    client, sent: Sent, outbox: Outbox
) -> None:
    alice = logged_in(client)
    account = account_of()

    saved = alice.post_form(
        "/account/email", {"email": "ada@example.org", "csrf_token": alice.csrf()}, HTML
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/account?done=email#email"
    assert run(sent, "set_email") == "set"
    assert send_email_link(ALICE) == "sent"  # the follow-up set_email sends
    note(account, "tier_reached", "t1")

    assert send_pending(outbox) == {"sent": 0, "skipped": 1, "failed": 0}
    assert [m["to"] for m in outbox.mails] == ["ada@example.org"]  # the link only
    page = alice.get("/account", headers=HTML).text
    assert 'data-verified="no"' in page and 'id="resend-link"' in page

    opened = alice.get(outbox.link(), headers=HTML)
    assert opened.status_code == 200 and 'id="confirm-email"' in opened.text
    found = re.search(r'name="token" value="([^"]+)"', opened.text)
    assert found is not None, opened.text
    token = found.group(1)
    confirmed = alice.post_form(
        "/account/email/verify", {"token": token, "csrf_token": alice.csrf()}, HTML
    )
    assert confirmed.status_code == 303
    waiting = alice.get(confirmed.headers["location"], headers=HTML).text
    assert "Confirming…" in waiting and 'id="refresher"' in waiting
    assert run(sent, "verify_email") == "verified"
    done = alice.get(confirmed.headers["location"], headers=HTML).text
    assert 'id="email-verified"' in done and 'id="refresher"' not in done

    note(account, "tier_reached", "t2")
    assert send_pending(outbox)["sent"] == 1 and outbox.mails[-1]["to"] == "ada@example.org"


def test_the_token_is_stored_hashed_works_once_and_for_24_hours(
    sqlite_db: str, outbox: Outbox
) -> None:
    Account.create(address=ALICE, email="ada@example.org")
    assert send_email_link(ALICE) == "sent"
    token = outbox.link().split("token=")[1]
    row = EmailVerification.get()
    assert row.token_hash == token_hash(token) and token not in json.dumps(
        row.__data__, default=str
    )
    assert row.expires_at - row.created_at == dt.timedelta(hours=24)

    assert verify_email(token_hash("guessed")) == "unknown"
    assert verify_email(token_hash(token)) == "verified"
    assert verify_email(token_hash(token)) == "used"
    assert Account.get().email_verified_at is not None


def test_an_expired_link_or_one_for_an_old_address_verifies_nothing(
    sqlite_db: str, outbox: Outbox
) -> None:
    Account.create(address=ALICE, email="ada@example.org")
    send_email_link(ALICE)
    old = token_hash(outbox.link().split("token=")[1])
    EmailVerification.update(created_at=utcnow() - dt.timedelta(minutes=5)).execute()
    Account.update(email="bea@example.org").execute()
    assert verify_email(old) == "changed"
    assert send_email_link(ALICE) == "sent"
    new = token_hash(outbox.link().split("token=")[1])
    EmailVerification.update(expires_at=utcnow()).where(
        EmailVerification.token_hash == new
    ).execute()
    assert verify_email(new) == "expired"
    assert Account.get().email_verified_at is None


def test_a_link_resent_twice_in_a_minute_goes_out_once(sqlite_db: str, outbox: Outbox) -> None:
    Account.create(address=ALICE, email="ada@example.org")
    assert [send_email_link(ALICE), send_email_link(ALICE)] == ["sent", "not_sent"]
    assert len(outbox.mails) == 1


def test_changing_the_email_makes_it_unverified_again(sqlite_db: str) -> None:
    Account.create(address=ALICE, email="ada@example.org", email_verified_at=utcnow())
    assert set_email(ALICE, "ada@example.org") == "unchanged"
    assert Account.get().email_verified_at is not None
    assert set_email(ALICE, "bea@example.org") == "set"
    assert Account.get().email_verified_at is None


def test_email_choices_mute_kinds_but_never_receipts(sqlite_db: str, outbox: Outbox) -> None:
    account = Account.create(address=ALICE, email="ada@example.org", email_verified_at=utcnow())
    assert set_email_choices(ALICE, ["credit", "tiers", "plans", "bogus"]) == "set"
    assert Account.get().muted_kinds == "credit,plans,tiers"
    note(account, "low_balance", "l1")
    note(account, "tier_reached", "t1")
    note(account, "payment_credited", "p1")
    assert send_pending(outbox) == {"sent": 1, "skipped": 2, "failed": 0}
    assert outbox.mails[0]["subject"].startswith("Your Hero credit:")


def test_the_choices_form_sends_what_is_unticked(client, sent: Sent) -> None:
    alice = logged_in(client)
    answer = alice.request(
        "POST",
        "/account/choices",
        body=f"csrf_token={alice.csrf()}&want=credit&want=plans",
        headers={"Content-Type": "application/x-www-form-urlencoded", **HTML},
    )
    assert answer.status_code == 303
    assert sent.calls[-1] == ("set_email_choices", {"address": ALICE, "muted": ["tiers"]})
    bad = alice.post_form("/account/choices", {"want": "spam", "csrf_token": alice.csrf()}, HTML)
    assert bad.status_code == 400 and 'id="choices-error"' in bad.text


@pytest.mark.parametrize("raw", ["not an email", "ada@", "a b@example.org", "x@[127.0.0.1]"])
def test_a_bad_email_comes_back_on_the_page_kept_with_the_problem_next_to_it(
    client, sent: Sent, raw: str
) -> None:
    alice = logged_in(client)
    page = alice.post_form("/account/email", {"email": raw, "csrf_token": alice.csrf()}, HTML)
    assert page.status_code == 400 and "<h1>Account settings</h1>" in page.text
    assert 'id="email-error">This email address ' in page.text
    assert 'aria-invalid="true"' in page.text and f'value="{raw}"' in page.text.replace(
        "&#34;", '"'
    )
    assert [c for c in sent.calls if c[0] == "set_email"] == []


def test_the_sessions_list_shows_each_browser_shortened_and_ends_them(client) -> None:
    phone = logged_in(client)
    Session.update(user_agent=PHONE).execute()
    laptop = logged_in(client)
    mine = Session.select().order_by(Session.id.desc()).get()
    Session.update(user_agent=FIREFOX).where(Session.id == mine.id).execute()

    page = laptop.get("/account", headers=HTML).text
    assert "Firefox on Linux <strong>(this browser)</strong>" in page
    assert "Chrome on Android" in page

    other = Session.get(Session.user_agent == PHONE)
    ended = laptop.post_form(
        f"/account/sessions/{other.id}/end", {"csrf_token": laptop.csrf()}, HTML
    )
    assert ended.status_code == 303
    assert phone.get("/auth/session").status_code == 401
    assert laptop.get("/auth/session").status_code == 200


def test_log_out_everywhere_deletes_every_session_of_the_account(client) -> None:
    first = logged_in(client)
    second = logged_in(client)
    bob = logged_in(client, BOB_KEY)

    answer = second.post_form("/account/sessions/end-all", {"csrf_token": second.csrf()}, HTML)

    assert answer.status_code == 303 and answer.headers["location"] == "/login?ended=all"
    assert Session.select().where(Session.address == ALICE).count() == 0
    assert first.get("/auth/session").status_code == 401
    assert second.get("/auth/session").status_code == 401
    assert bob.get("/auth/session").status_code == 200


def test_another_account_cannot_end_your_session(client) -> None:
    alice = logged_in(client)
    alice_session = Session.get(Session.address == ALICE)
    bob = logged_in(client, BOB_KEY)
    answer = bob.post_form(
        f"/account/sessions/{alice_session.id}/end", {"csrf_token": bob.csrf()}, HTML
    )
    assert answer.status_code == 404
    assert alice.get("/auth/session").status_code == 200
    assert "Chrome" not in bob.get("/account", headers=HTML).text or True
    assert f'id="session-{alice_session.id}"' not in bob.get("/account", headers=HTML).text


def test_a_session_is_seen_at_most_once_a_minute(client) -> None:
    clock = Clock()
    app_client = falcon.testing.TestClient(make_app(clock, Sent()))
    browser = logged_in(app_client)
    first_seen = Session.get().last_seen_at
    clock.advance(30)
    browser.get("/auth/session")
    assert Session.get().last_seen_at == first_seen
    clock.advance(31)
    browser.get("/auth/session")
    assert Session.get().last_seen_at == clock.now


def test_the_email_and_session_routes_need_a_login_and_the_csrf_token(client, sent: Sent) -> None:
    for path in (
        "/account/email",
        "/account/email/link",
        "/account/choices",
        "/account/sessions/end-all",
    ):
        assert client.simulate_post(path, headers=JSON).status_code in (401, 403)
    alice = logged_in(client)
    assert alice.post_form("/account/sessions/end-all", {}, HTML).status_code == 403
    assert Session.select().count() == 1


@given(st.text(max_size=300))
def test_a_user_agent_always_shortens_to_short_printable_text(agent: str) -> None:
    short = short_agent(agent)
    assert 0 < len(short) <= 40 and short.isprintable()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(
        ["/account/email", "/account/choices", "/account/email/verify", "/account/email/link"]
    ),
    field=st.sampled_from(["email", "want", "token"]),
    value=st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
    query=st.text(max_size=80),
)
def test_no_account_route_answers_500(
    client, path: str, field: str, value: str, query: str
) -> None:
    if not hasattr(client, "_alice"):
        client._alice = logged_in(client)
    alice = client._alice
    answer = alice.post_form(path, {field: value, "csrf_token": alice.csrf()}, HTML)
    assert answer.status_code < 500, (path, field, value)
    for name in ("token", "check", "waited"):
        page = alice.request("GET", "/account/email/verify", params={name: query}, headers=HTML)
        assert page.status_code < 500, (name, query)
