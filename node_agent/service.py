"""The node agent's composition root: settings in, a journal, publisher and committer out.

``serve`` runs three loops in one process until *stop* is set: the intake endpoint
(waitress), the publisher (asyncio, in its own thread) and the committer (closed hours
every ``HERO_NODE_COMMIT_INTERVAL_S`` seconds, then a push when anything waits for one).
Each loop survives its outside service being down and any single record (a bad journal
row is quarantined by the journal); a round that fails for any other reason is logged as
an error every time, and the loop waits longer after each failure in a row
(``loop_backoff_s``) before it tries again. The journal is what the loops share.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import threading
from collections.abc import Callable, Mapping
from typing import Any

import nacl.signing
import structlog

from node_agent.committer import Committer, Remote, repo_path_for
from node_agent.credit import CreditBook, start_watch
from node_agent.journal import Journal
from node_agent.keys import intake_token
from node_agent.publisher import Publisher
from node_agent.records import draft_record
from node_agent.settings import NodeSettings
from wire.otoml import UsageIn
from wire.times import utcnow as utcnow

log = structlog.get_logger("hero.node")

#: Worker threads of the intake endpoint.
INTAKE_THREADS = 4
#: Seconds in-flight intake requests get to finish on shutdown.
INTAKE_GRACE_S = 5
#: The category of a report that names none, by its resource kind (else the wire default).
CATEGORY_OF_KIND = {"vm_hour": "vm", "llm_token": "llm", "hero_os_hour": "hero_os_hourly"}
#: Seconds between looks at the stop event from the publisher's event loop.
STOP_POLL_S = 0.2
#: The longest wait, in seconds, of a loop that keeps failing.
MAX_LOOP_BACKOFF_S = 600.0

Clock = Callable[[], dt.datetime]


def open_journal(settings: NodeSettings, *, key: nacl.signing.SigningKey | None = None) -> Journal:
    """The node's journal (``HERO_NODE_JOURNAL``); raises ``JournalError``. With *key*
    (``serve``), records appended are stored with their signature."""
    return Journal(settings.journal_path, node=settings.name, key=key)


def with_category(raw: Any) -> Any:
    """*raw* with ``applies_to`` derived from ``resource_kind`` when it names none.

    A report of ``vm_hour`` without a category is billed as ``vm``, not as the wire's
    default ``hero_os_hourly`` (which is discounted differently).

    >>> with_category({"resource_kind": "vm_hour"})["applies_to"]
    'vm'
    """
    if not isinstance(raw, Mapping) or raw.get("applies_to") is not None:
        return raw
    kind = raw.get("resource_kind")
    category = CATEGORY_OF_KIND.get(kind) if isinstance(kind, str) else None
    return raw if category is None else {**raw, "applies_to": category}


def record_report(journal: Journal, raw: Any, *, clock: Clock = utcnow) -> UsageIn:
    """Validate *raw* and append it to *journal*; returns the keyed record.

    Raises:
        RecordError: naming the field (nothing was stored).
        sqlite3.Error: the journal could not store it (nothing was stored).
    """
    now = clock()
    draft = draft_record(with_category(raw), node=journal.node, now=now)
    record = journal.append(draft, now=now)
    log.info(
        "node.recorded",
        key=record.key,
        user=record.user,
        kind=record.resource_kind,
        amount_cents=record.amount_cents,
    )
    return record


def build_committer(
    settings: NodeSettings, key: nacl.signing.SigningKey, *, clock: Clock = utcnow
) -> Committer:
    """The committer for the node's local repo, pushing to ``HERO_NODE_REPO`` if set."""
    remote = None
    if settings.repo:
        remote = Remote(settings.repo, username=settings.repo_user, password=settings.repo_token)
    return Committer(
        repo_path_for(settings.journal_path),
        node=settings.name,
        key=key,
        remote=remote,
        clock=clock,
    )


def serve(
    settings: NodeSettings,
    key: nacl.signing.SigningKey,
    *,
    stop: threading.Event,
    clock: Clock = utcnow,
) -> None:
    """Run intake, publisher and committer until *stop* is set.

    Raises:
        JournalError: the journal cannot be opened.
        OSError: the intake address cannot be bound.
    """
    import waitress  # the HTTP stack loads with `serve`, not with every command

    from node_agent.intake import create_intake_app

    token = intake_token(given=settings.intake_token, path=settings.intake_token_path)
    journal = open_journal(settings, key=key)
    publisher: Publisher | None = None
    if settings.nats_url:
        publisher = Publisher(
            journal,
            key=key,
            nats_url=settings.nats_url,
            stream=settings.nats_stream,
            subject_prefix=settings.nats_subject_prefix,
            clock=clock,
        )
    else:
        log.warning("node.nats_off", reason="HERO_NATS_URL is not set; records are not published")
    committer = build_committer(settings, key, clock=clock)
    book = CreditBook(stale_s=settings.credit_stale_s)
    if settings.nats_url:
        start_watch(settings.nats_url, settings.nats_credit_bucket, book, stop)

    def record(raw: Any) -> UsageIn:
        result = record_report(journal, raw, clock=clock)
        if publisher is not None:
            publisher.wake()
        return result

    if not is_loopback(settings.intake_host):
        log.warning(
            "node.intake_not_loopback",
            host=settings.intake_host,
            reason="the intake listens beyond this host; only its token guards it",
        )
    server = waitress.create_server(
        create_intake_app(record=record, token=token, credit=book),
        host=settings.intake_host,
        port=settings.intake_port,
        threads=INTAKE_THREADS,
        ident="hero-node",
        max_request_body_size=1024 * 1024,
    )
    threads = [
        threading.Thread(target=server.run, name="intake", daemon=True),
        threading.Thread(
            target=_commit_loop,
            name="committer",
            daemon=True,
            args=(committer, journal, settings.commit_interval_s, stop),
        ),
    ]
    if publisher is not None:
        threads.append(
            threading.Thread(
                target=_publish_loop, name="publisher", daemon=True, args=(publisher, stop)
            )
        )
    for thread in threads:
        thread.start()
    log.info(
        "node.serving",
        node=settings.name,
        intake=f"http://{settings.intake_host}:{settings.intake_port}/usage",
        nats=settings.nats_url is not None,
        repo=settings.repo is not None,
    )
    try:
        while not stop.wait(0.5):
            dead = [t.name for t in threads if not t.is_alive()]
            if dead:
                log.error("node.loop_stopped", loops=dead)
                raise RuntimeError(f"node agent loop stopped unexpectedly: {', '.join(dead)}")
    finally:
        stop.set()
        server.close()
        server.task_dispatcher.shutdown(timeout=INTAKE_GRACE_S)
        for thread in threads[1:]:
            thread.join(timeout=30)
        journal.close()
        log.info("node.stopped", node=settings.name)


def is_loopback(host: str) -> bool:
    """Whether *host* reaches only this machine (``127.0.0.0/8``, ``::1``, ``localhost``).

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loop_backoff_s(failures: int, *, base_s: float) -> float:
    """Seconds a loop waits after *failures* failed rounds in a row (0: the normal wait).

    >>> [loop_backoff_s(n, base_s=60) for n in (0, 1, 2, 5)]
    [60.0, 60.0, 120.0, 600.0]
    """
    return float(min(base_s * 2.0 ** max(failures - 1, 0), max(MAX_LOOP_BACKOFF_S, base_s)))


def _commit_loop(
    committer: Committer, journal: Journal, interval_s: int, stop: threading.Event
) -> None:
    """Commit closed hours and push, every *interval_s* seconds, until *stop*."""
    failures = 0
    while not stop.is_set():
        try:
            outcome = committer.run(journal, include_open=False)
            failures = failures + 1 if outcome.failed_hours else 0
        except Exception as exc:  # a bug or a full disk must not end the process: log, go on
            failures += 1
            log.exception(
                "committer.round_failed",
                error=repr(exc),
                failures=failures,
                retry_in_s=loop_backoff_s(failures, base_s=interval_s),
            )
        stop.wait(loop_backoff_s(failures, base_s=interval_s))


def _publish_loop(publisher: Publisher, stop: threading.Event) -> None:
    """Run the publisher's event loop in this thread until *stop*; restart it if it ends."""

    async def main() -> None:
        stop_async = asyncio.Event()

        async def watch() -> None:  # polls: a thread blocked on stop would outlive a crash
            while not stop.is_set():
                await asyncio.sleep(STOP_POLL_S)
            stop_async.set()

        watcher = asyncio.create_task(watch())
        try:
            await publisher.run(stop_async)
        finally:
            watcher.cancel()

    failures = 0
    while not stop.is_set():
        try:
            asyncio.run(main())
        except Exception as exc:  # noqa: BLE001 - the publisher must outlive any one failure
            failures += 1
            wait_s = loop_backoff_s(failures, base_s=1.0)
            log.exception(
                "publisher.loop_crashed", error=repr(exc), failures=failures, retry_in_s=wait_s
            )
            stop.wait(wait_s)
