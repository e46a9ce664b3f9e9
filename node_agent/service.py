"""The node agent's composition root: settings in, a journal, publisher and committer out.

``serve`` runs three loops in one process until *stop* is set: the intake endpoint
(waitress), the publisher (asyncio, in its own thread) and the committer (closed hours
every ``HERO_NODE_COMMIT_INTERVAL_S`` seconds, then a push when anything waits for one).
Each loop survives its outside service being down; the journal is what they share.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import nacl.signing
import structlog

from models.otoml import UsageIn
from node_agent.committer import Committer, Remote, repo_path_for
from node_agent.intake import create_intake_app
from node_agent.journal import Journal
from node_agent.publisher import Publisher
from node_agent.records import draft_record
from settings import NodeSettings

log = structlog.get_logger("hero.node")

#: Worker threads of the intake endpoint.
INTAKE_THREADS = 4
#: Seconds in-flight intake requests get to finish on shutdown.
INTAKE_GRACE_S = 5

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    """The current time, aware, in UTC."""
    return dt.datetime.now(dt.UTC)


def open_journal(settings: NodeSettings) -> Journal:
    """The node's journal (``HERO_NODE_JOURNAL``); raises ``JournalError``."""
    return Journal(settings.journal_path, node=settings.name)


def record_report(journal: Journal, raw: Any, *, clock: Clock = utcnow) -> UsageIn:
    """Validate *raw* and append it to *journal*; returns the keyed record.

    Raises:
        RecordError: naming the field (nothing was stored).
        sqlite3.Error: the journal could not store it (nothing was stored).
    """
    now = clock()
    record = journal.append(draft_record(raw, node=journal.node, now=now), now=now)
    log.info("node.recorded", key=record.key, user=record.user, kind=record.resource_kind,
             amount_cents=record.amount_cents)
    return record


def build_committer(settings: NodeSettings, key: nacl.signing.SigningKey, *,
                    clock: Clock = utcnow) -> Committer:
    """The committer for the node's local repo, pushing to ``HERO_NODE_REPO`` if set."""
    remote = None
    if settings.repo:
        remote = Remote(settings.repo, username=settings.repo_user,
                        password=settings.repo_token)
    return Committer(repo_path_for(settings.journal_path), node=settings.name, key=key,
                     remote=remote, clock=clock)


def serve(settings: NodeSettings, key: nacl.signing.SigningKey, *, stop: threading.Event,
          clock: Clock = utcnow) -> None:
    """Run intake, publisher and committer until *stop* is set.

    Raises:
        JournalError: the journal cannot be opened.
        OSError: the intake address cannot be bound.
    """
    import waitress

    journal = open_journal(settings)
    publisher: Publisher | None = None
    if settings.nats_url:
        publisher = Publisher(journal, key=key, nats_url=settings.nats_url,
                              stream=settings.nats_stream,
                              subject_prefix=settings.nats_subject_prefix, clock=clock)
    else:
        log.warning("node.nats_off", reason="HERO_NATS_URL is not set; records are not published")
    committer = build_committer(settings, key, clock=clock)

    def record(raw: Any) -> UsageIn:
        result = record_report(journal, raw, clock=clock)
        if publisher is not None:
            publisher.wake()
        return result

    server = waitress.create_server(
        create_intake_app(record=record), host=settings.intake_host,
        port=settings.intake_port, threads=INTAKE_THREADS, ident="hero-node",
        max_request_body_size=1024 * 1024,
    )
    threads = [
        threading.Thread(target=server.run, name="intake", daemon=True),
        threading.Thread(target=_commit_loop, name="committer", daemon=True,
                         args=(committer, journal, settings.commit_interval_s, stop)),
    ]
    if publisher is not None:
        threads.append(threading.Thread(target=_publish_loop, name="publisher", daemon=True,
                                        args=(publisher, stop)))
    for thread in threads:
        thread.start()
    log.info("node.serving", node=settings.name,
             intake=f"http://{settings.intake_host}:{settings.intake_port}/usage",
             nats=settings.nats_url is not None, repo=settings.repo is not None)
    try:
        while not stop.wait(0.5):
            dead = [t.name for t in threads if not t.is_alive()]
            if dead:
                raise RuntimeError(f"node agent loop stopped unexpectedly: {', '.join(dead)}")
    finally:
        stop.set()
        server.close()
        server.task_dispatcher.shutdown(timeout=INTAKE_GRACE_S)
        for thread in threads[1:]:
            thread.join(timeout=30)
        journal.close()
        log.info("node.stopped", node=settings.name)


def _commit_loop(committer: Committer, journal: Journal, interval_s: int,
                 stop: threading.Event) -> None:
    """Commit closed hours and push, every *interval_s* seconds, until *stop*."""
    while not stop.is_set():
        try:
            committer.run(journal, include_open=False)
        except Exception:  # a bug or a full disk must not end the process: log, go on
            log.exception("committer.round_failed")
        stop.wait(interval_s)


def _publish_loop(publisher: Publisher, stop: threading.Event) -> None:
    """Run the publisher's event loop in this thread until *stop* is set."""

    async def main() -> None:
        stop_async = asyncio.Event()

        async def watch() -> None:
            await asyncio.to_thread(stop.wait)
            stop_async.set()

        watcher = asyncio.create_task(watch())
        await publisher.run(stop_async)
        await watcher

    asyncio.run(main())
