"""The in-process broker: actors run through a real dramatiq Worker; poison messages are
dead-lettered, not retried forever and not lost."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

import actors
from models import Account, Billing


@pytest.fixture
def worker(sqlite_db: str) -> Iterator[dramatiq.Worker]:
    broker = actors.build_broker(None)
    worker = dramatiq.Worker(broker, worker_timeout=50, worker_threads=2)
    worker.start()
    yield worker
    worker.stop()


def test_apply_payment_sent_in_process_is_applied(worker: dramatiq.Worker) -> None:
    from actors.payments import apply_payment

    Account.create(address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab")
    for _ in range(3):
        apply_payment.send(
            provider="stripe",
            payment_key="pi_1",
            address="520:c662:fd00:9e92:5d99:34ed:ab8:82ab",
            amount_cents=300,
            currency="usd",
            paid_at=1_790_000_000,
        )
    worker.broker.join("payments")
    assert Billing.get().balance_cents == 300


def test_a_payment_that_can_never_apply_is_dead_lettered_at_once(worker: dramatiq.Worker) -> None:
    from actors.payments import apply_payment

    apply_payment.send(
        provider="stripe",
        payment_key="pi_bad",
        address=None,
        amount_cents=0,
        currency="usd",
        paid_at=1,
    )
    broker = worker.broker
    assert isinstance(broker, StubBroker)
    with pytest.raises(Exception, match="amount_cents"):
        broker.join("payments")
    assert len(broker.dead_letters) == 1
    assert broker.dead_letters[0].options.get("retries", 0) == 0
