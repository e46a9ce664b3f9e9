"""The bridge: JetStream usage messages to ``apply_usage_batch``, acked only once confirmed.

A durable pull consumer on the usage stream fetches batches; each message's signature is
verified against its node's registered key. Good records go to ``apply_usage_batch`` in
one message; NATS is acked only after the broker confirmed it (or, embedded, after the
batch was applied). A bad signature or an invalid record is terminated (never
redelivered) and raises an alert; a message from a node not registered yet is retried
later.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing
import structlog

from actors.alerts import raise_alert
from actors.usage import deliver_usage
from models import Node
from models.errors import BrokerUnavailable
from models.otoml import RecordError, parse_record
from settings import Settings

log = structlog.get_logger("hero.bridge")

#: Messages per fetch, and so at most per apply_usage_batch message.
FETCH_BATCH = 1000
#: Name of the durable consumer every bridge shares (they split the work).
DURABLE = "hero-bridge"
#: Seconds before a message from an unregistered node is offered again.
UNKNOWN_NODE_DELAY_S = 60


@dataclass(frozen=True)
class Verdict:
    """What to do with one message: ``record`` to apply, or ``term``/``later`` with why."""

    action: str  # apply | term | later
    reason: str = ""
    record: dict[str, Any] | None = None
    node: str = ""


def check_message(
    subject: str,
    data: bytes,
    headers: dict[str, str] | None,
    *,
    prefix: str,
    keys: dict[str, str],
    now: Any,
) -> Verdict:
    """Decide a message's fate from its subject, body, headers and the node keys (pure)."""
    node = subject[len(prefix) + 1 :] if subject.startswith(prefix + ".") else ""
    if not node:
        return Verdict("term", f"subject {subject!r} is not {prefix}.<node>")
    pubkey = keys.get(node)
    if pubkey is None:
        return Verdict("later", f"node {node!r} is not registered", node=node)
    signature = (headers or {}).get("Hero-Signature", "")
    try:
        nacl.signing.VerifyKey(bytes.fromhex(pubkey)).verify(data, bytes.fromhex(signature))
    except (ValueError, nacl.exceptions.BadSignatureError):
        return Verdict("term", "Hero-Signature: does not verify with the node's key", node=node)
    try:
        raw = json.loads(data)
        record = parse_record(raw, node=node, now=now)
    except (ValueError, RecordError) as exc:
        return Verdict("term", f"record rejected: {exc}", node=node)
    if (headers or {}).get("Nats-Msg-Id") != record.key:
        return Verdict("term", f"Nats-Msg-Id is not the record key {record.key}", node=node)
    return Verdict("apply", record=record.to_json(), node=node)


class NodeKeys:
    """Registered node keys, re-read from the database at most every *ttl_s* seconds."""

    def __init__(self, ttl_s: float = 30.0) -> None:
        self._ttl_s = ttl_s
        self._keys: dict[str, str] = {}
        self._loaded = 0.0

    def get(self, *, force: bool = False) -> dict[str, str]:
        if force or time.monotonic() - self._loaded > self._ttl_s:
            self._keys = {n.name: n.pubkey_hex for n in Node.select(Node.name, Node.pubkey_hex)}
            self._loaded = time.monotonic()
        return self._keys


async def run_bridge(
    settings: Settings,
    *,
    stop: threading.Event,
    deliver: Callable[[list[dict[str, Any]], str], Any] = deliver_usage,
) -> None:
    """Consume until *stop* is set; reconnects to NATS by itself."""
    import datetime as dt

    import nats
    from nats.errors import TimeoutError as FetchTimeout
    from nats.js.api import AckPolicy, ConsumerConfig
    from nats.js.errors import NotFoundError

    assert settings.nats_url, "the bridge needs HERO_NATS_URL"
    nc = await nats.connect(settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=1)
    js = nc.jetstream()
    prefix, stream = settings.nats_subject_prefix, settings.nats_stream
    try:
        await js.stream_info(stream)
    except NotFoundError:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    sub = await js.pull_subscribe(
        f"{prefix}.>",
        durable=DURABLE,
        stream=stream,
        config=ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT, ack_wait=120, max_ack_pending=20 * FETCH_BATCH
        ),
    )
    keys = NodeKeys()
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-send")
    loop = asyncio.get_running_loop()
    log.info("bridge.started", stream=stream, subjects=f"{prefix}.>")
    try:
        while not stop.is_set():
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=1)
            except FetchTimeout:
                continue
            now = dt.datetime.now(dt.UTC)
            known = await loop.run_in_executor(executor, keys.get)
            verdicts = [
                check_message(m.subject, m.data, m.headers, prefix=prefix, keys=known, now=now)
                for m in msgs
            ]
            if any(v.action == "later" for v in verdicts):
                known = await loop.run_in_executor(executor, lambda: keys.get(force=True))
                verdicts = [
                    check_message(m.subject, m.data, m.headers, prefix=prefix, keys=known, now=now)
                    for m in msgs
                ]
            records = [v.record for v in verdicts if v.action == "apply" and v.record]
            try:
                if records:
                    await loop.run_in_executor(executor, deliver, records, "nats")
            except BrokerUnavailable as exc:
                log.warning("bridge.broker_unavailable", error=str(exc))
                for m in msgs:
                    await m.nak(delay=5)
                continue
            for m, verdict in zip(msgs, verdicts, strict=True):
                await _settle(m, verdict, loop, executor)
    finally:
        executor.shutdown(wait=True)
        await nc.drain()


async def _settle(msg: Any, verdict: Verdict, loop: Any, executor: ThreadPoolExecutor) -> None:
    if verdict.action == "apply":
        await msg.ack()
        return
    if verdict.action == "later":
        await msg.nak(delay=UNKNOWN_NODE_DELAY_S)
        await loop.run_in_executor(
            executor,
            lambda: raise_alert(
                "unknown_node",
                verdict.node,
                verdict.reason + "; register it with hero-admin node add",
            ),
        )
        return
    await msg.term()
    log.warning("bridge.message_terminated", node=verdict.node, reason=verdict.reason)
    await loop.run_in_executor(
        executor,
        lambda: raise_alert(
            "bad_signature" if "Signature" in verdict.reason else "records_rejected",
            verdict.node or "?",
            verdict.reason,
            {"subject": msg.subject, "msg_id": (msg.headers or {}).get("Nats-Msg-Id")},
        ),
    )


def bridge_forever(settings: Settings, stop: threading.Event) -> None:
    """Run the bridge until *stop*; restart it after an unexpected error."""
    while not stop.is_set():
        try:
            asyncio.run(run_bridge(settings, stop=stop))
        except Exception as exc:  # noqa: BLE001 - log, wait, reconnect
            log.error("bridge.crashed", error=repr(exc))
            stop.wait(2)
