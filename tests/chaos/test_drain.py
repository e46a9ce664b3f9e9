"""The drain's stall rule: it waits while work is done or the backlog reaches a new low."""

from __future__ import annotations

from tests.chaos.drain import DELAYED_STALL_S, Drained, Watch


def test_a_backlog_that_shrinks_or_work_that_is_done_keeps_the_drain_waiting() -> None:
    watch = Watch(0.0, stall_s=60)
    assert not watch.stalled(0, {"rabbitmq usage": 500}, (10, 10, 0))
    # the backlog shrinks at every look: never a stall, however long it takes
    for t, left in ((50, 400), (100, 300), (150, 200), (200, 100)):
        assert not watch.stalled(t, {"rabbitmq usage": left}, (10, 10, 0))
    # the backlog stays, but ledger entries are written
    assert not watch.stalled(250, {"rabbitmq usage": 100}, (11, 12, 0))
    assert not watch.stalled(300, {"rabbitmq usage": 100}, (12, 14, 0))


def test_a_backlog_that_only_moves_around_is_a_stall() -> None:
    watch = Watch(0.0, stall_s=60)
    assert not watch.stalled(0, {"rabbitmq usage": 5}, (1, 1, 0))
    # retried messages bounce between the queue and its delay queue: no new low, no work
    assert not watch.stalled(40, {"rabbitmq usage": 2, "rabbitmq usage.DQ": 3}, (1, 1, 0))
    assert watch.stalled(61, {"rabbitmq usage": 5}, (1, 1, 0))


def test_only_delay_queues_waiting_get_the_longest_retry_backoff() -> None:
    watch = Watch(0.0, stall_s=60)
    waiting = {"rabbitmq usage.DQ": 1, "accounts not settled": 1}
    assert not watch.stalled(0, waiting, (1, 1, 0))
    assert not watch.stalled(DELAYED_STALL_S - 1, waiting, (1, 1, 0))
    assert watch.stalled(DELAYED_STALL_S + 1, waiting, (1, 1, 0))


def test_balances_alone_not_settled_with_every_queue_empty_get_the_plain_window() -> None:
    watch = Watch(0.0, stall_s=60)
    assert not watch.stalled(0, {"accounts not settled": 3}, (1, 1, 0))
    assert watch.stalled(61, {"accounts not settled": 3}, (1, 1, 0))


def test_a_stopped_drain_names_each_waiting_backlog_and_its_count() -> None:
    drained = Drained(
        seconds=130.0,
        waiting={"nats hero-bridge pending": 12, "node-3 journal unpushed": 40},
        dead={"rabbitmq usage.XQ": 2},
    )
    assert drained.summary() == (
        "drain stopped after 130.0s, nothing moved: waiting on nats hero-bridge pending 12,"
        " node-3 journal unpushed 40; set aside: rabbitmq usage.XQ 2"
    )
    settled = Drained(seconds=12.5, rounds=3, settled=True)
    assert settled.summary() == "drain 12.5s (3 rounds): every backlog empty"
