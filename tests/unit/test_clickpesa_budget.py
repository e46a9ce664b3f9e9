"""ClickPesa's 100 calls a day: per-top-up backoff, a shared token, a daily budget."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator

import pytest

import actors.clickpesa
from actors.clickpesa_budget import DbCallMeter, DbTokens, calls_on, take_call
from actors.clickpesa_reconcile import reconcile_clickpesa_topups
from adapters.payments.clickpesa import TOKEN_TTL_S, ClickPesaProvider
from adapters.payments.clickpesa_limits import CallBudgetExhausted
from models import Account, Alert, Billing, TopUp
from models.clickpesa import PaymentCheck
from settings import ConfigError, Settings
from tests.support.deps import DepsSwitch
from tests.support.fake_clickpesa import FakeClickPesa

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
START = dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC).timestamp()
TICK_S = 600  # the scheduler sends reconcile_clickpesa_topups every 10 minutes
PAID_AT = "2026-03-02T00:00:00Z"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def at(self, offset_s: float = 0) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.now + offset_s, dt.UTC)

    def day(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.now, dt.UTC).date()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake() -> Iterator[FakeClickPesa]:
    with FakeClickPesa() as server:
        yield server


def make_provider(fake: FakeClickPesa, clock: Clock, budget: int) -> ClickPesaProvider:
    return ClickPesaProvider(
        client_id=fake.client_id,
        api_key=fake.api_key,
        checksum_key=fake.checksum_key,
        api_base=fake.api_base,
        clock=clock,
        meter=DbCallMeter(budget, clock=clock),
        tokens=DbTokens(),
    )


@pytest.fixture
def wired(fake: FakeClickPesa, clock: Clock, sqlite_db: str, deps: DepsSwitch) -> ClickPesaProvider:
    provider = make_provider(fake, clock, budget=90)
    deps.set(clickpesa=provider, clock=clock)
    return provider


def topup(public_id: str, clock: Clock, offset_s: float = 0) -> TopUp:
    account = Account.get_or_none(Account.address == ADDRESS) or Account.create(address=ADDRESS)
    return TopUp.create(
        public_id=public_id,
        account=account,
        provider="clickpesa",
        amount_cents=2500,
        created_at=clock.at(offset_s),
    )


def total(fake: FakeClickPesa) -> int:
    return sum(fake.calls.values())


@pytest.mark.usefixtures("wired")
def test_three_days_of_ticks_stay_within_the_budget(fake: FakeClickPesa, clock: Clock) -> None:
    # Given one abandoned checkout, one paid whose webhook never came, one pending for
    # five hours, one pending for ever, and two more top-ups started each day
    topup("ABANDONED", clock)
    topup("PAIDSILENT", clock)
    fake.set_payment("PAIDSILENT", status="SUCCESS", amount="25.00", created_at=PAID_AT)
    topup("SLOW", clock)
    fake.set_payment("SLOW", status="PROCESSING")
    topup("STUCK", clock)
    fake.set_payment("STUCK", status="PROCESSING")
    per_day: dict[dt.date, int] = {}
    # When the scheduler ticks every 10 minutes for three days
    for tick in range(3 * 24 * 6):
        clock.now = START + tick * TICK_S
        if tick % (24 * 6) == 6:  # each day, a new abandoned checkout
            topup(f"DAY{tick}", clock)
        if tick == 5 * 6:
            fake.set_payment("SLOW", status="SUCCESS", amount="25.00", created_at=PAID_AT)
        before = total(fake)
        reconcile_clickpesa_topups()
        per_day[clock.day()] = per_day.get(clock.day(), 0) + total(fake) - before
    # Then no UTC day used more than reconciliation's half of the budget (tokens included)
    assert len(per_day) == 3 and max(per_day.values()) <= 45, per_day
    assert not Alert.select().where(Alert.kind == "clickpesa_budget").exists()
    assert sum(per_day.values()) == calls_on("clickpesa", clock.day()) + sum(
        calls_on("clickpesa", d) for d in per_day if d != clock.day()
    )
    # And the paid ones were credited once, the abandoned one stopped after about 8 checks
    assert Billing.get().balance_cents == 5000
    assert fake.queries("PAIDSILENT") == 1 and fake.queries("SLOW") == 5
    abandoned = PaymentCheck.get(PaymentCheck.topup_public_id == "ABANDONED")
    assert abandoned.stopped == "abandoned" and fake.queries("ABANDONED") == abandoned.attempts <= 9
    # And the one pending for ever was re-queried on the backoff, not every 10 minutes
    assert 10 <= fake.queries("STUCK") <= 16
    assert fake.calls["POST /generate-token"] < sum(per_day.values()) / 2


@pytest.mark.usefixtures("wired")
def test_the_backoff_between_checks(fake: FakeClickPesa, clock: Clock) -> None:
    topup("STUCK", clock)
    fake.set_payment("STUCK", status="PROCESSING")
    seen: list[int] = []
    for tick in range(24 * 6):
        clock.now = START + tick * TICK_S
        before = fake.queries("STUCK")
        reconcile_clickpesa_topups()
        if fake.queries("STUCK") > before:
            seen.append(tick * TICK_S // 60)
    assert seen[:6] == [10, 40, 100, 280, 640, 1000]


def test_the_reconcile_share_is_kept_and_alerted_once_a_day(
    fake: FakeClickPesa, clock: Clock, sqlite_db: str, deps: DepsSwitch
) -> None:
    provider = make_provider(fake, clock, budget=10)
    deps.set(clickpesa=provider, clock=clock)
    for n in range(8):
        topup(f"OLD{n}", clock, offset_s=-3600)
    # Reconciliation stops at half the budget (a token and four re-queries)
    assert reconcile_clickpesa_topups()["budget_exhausted"] == 1
    assert total(fake) == 5
    assert reconcile_clickpesa_topups() == {"budget_exhausted": 1}
    assert total(fake) == 5
    alerts = list(Alert.select().where(Alert.kind == "clickpesa_budget"))
    assert len(alerts) == 1 and alerts[0].subject == clock.day().isoformat()
    # A webhook's re-query still gets through, up to the whole budget
    fake.set_payment("OLD7", status="SUCCESS", amount="25.00", created_at=PAID_AT)
    assert actors.clickpesa.settle("OLD7") == "credited"
    for _ in range(4):
        provider.query_payment("OLD6")
    with pytest.raises(CallBudgetExhausted, match="HERO_CLICKPESA_DAILY_CALLS"):
        provider.query_payment("OLD6")
    assert total(fake) == 10
    # The next UTC day re-queries resume
    clock.now += 24 * 3600
    assert reconcile_clickpesa_topups().get("budget_exhausted") == 1
    assert total(fake) == 15


@pytest.mark.usefixtures("wired")
def test_a_poison_record_does_not_stop_the_others(fake: FakeClickPesa, clock: Clock) -> None:
    topup("POISON", clock, offset_s=-3600)
    topup("GOOD", clock, offset_s=-1800)
    fake.set_payment("POISON", status="SUCCESS", amount="25.005", created_at=PAID_AT)
    fake.set_payment("GOOD", status="SUCCESS", amount="25.00", created_at=PAID_AT)
    assert reconcile_clickpesa_topups() == {"unusable": 1, "credited": 1}
    assert Billing.get().balance_cents == 2500
    alert = Alert.get(Alert.kind == "clickpesa_unusable")
    assert alert.subject == "POISON" and "collectedAmount" in alert.message


@pytest.mark.usefixtures("wired")
def test_fresh_topups_are_left_to_their_webhook(fake: FakeClickPesa, clock: Clock) -> None:
    topup("FRESH", clock, offset_s=-599)
    assert reconcile_clickpesa_topups() == {}
    assert total(fake) == 0


@pytest.mark.usefixtures("wired")
def test_clickpesa_away_stops_the_run_and_counts_no_attempt(
    fake: FakeClickPesa, clock: Clock
) -> None:
    topup("HERO1", clock, offset_s=-3600)
    fake.down = True
    assert reconcile_clickpesa_topups() == {}
    assert not PaymentCheck.select().exists()


def test_processes_share_one_token_for_its_life(
    fake: FakeClickPesa, clock: Clock, sqlite_db: str
) -> None:
    gateway, worker = make_provider(fake, clock, 90), make_provider(fake, clock, 90)
    gateway.query_payment("HERO1")
    worker.query_payment("HERO1")
    clock.now += TOKEN_TTL_S - 1
    worker.query_payment("HERO1")
    assert fake.calls["POST /generate-token"] == 1
    clock.now += 1
    gateway.query_payment("HERO1")
    worker.query_payment("HERO1")
    assert fake.calls["POST /generate-token"] == 2


def test_concurrent_calls_never_pass_the_budget_on_postgres(pg_db: str) -> None:
    day = dt.date(2026, 3, 2)
    granted: list[bool] = []
    lock = threading.Lock()

    def spend() -> None:
        for _ in range(15):
            ok = take_call("clickpesa", day, 50)
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=spend) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 50 and calls_on("clickpesa", day) == 50


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, 90), ("60", 60), ("0", "at least 2"), ("many", "an integer")]
)
def test_the_daily_budget_setting(raw: str | None, expected: int | str) -> None:
    environ = {"HERO_CLICKPESA_DAILY_CALLS": raw} if raw is not None else {}
    if isinstance(expected, int):
        assert Settings.from_env(environ).clickpesa_daily_calls == expected
    else:
        with pytest.raises(ConfigError, match=f"^HERO_CLICKPESA_DAILY_CALLS: must be {expected}"):
            Settings.from_env(environ)


def test_an_older_database_gets_the_budget_tables(sqlite_db: str) -> None:
    from models import db
    from models.clickpesa import ProviderCallDay, ProviderToken
    from models.migrations import LATEST_VERSION, SchemaVersion, migrate

    db.drop_tables([PaymentCheck, ProviderCallDay, ProviderToken])
    SchemaVersion.update(version=2).execute()
    assert any("provider calls per day" in line for line in migrate())
    assert SchemaVersion.get().version == LATEST_VERSION
    assert take_call("clickpesa", dt.date(2026, 3, 2), 1)
    assert PaymentCheck.select().count() == 0
