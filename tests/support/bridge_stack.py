"""The bridge as a real process: signed usage records published on a NATS stream of the
test, the bridge started on the stack, the dead letters it leaves."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import nacl.signing
import pika

from tests.support.nats_helpers import NATS_URL, TestStream
from tests.support.stack import Stack

USER = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


NODE_KEY = nacl.signing.SigningKey.generate()


def record(seq: int, cents: int = 10, node: str = "node-a") -> dict:
    moment = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    return {
        "key": f"{node}:{seq}",
        "node": node,
        "user": USER,
        "resource_kind": "vm_hour",
        "applies_to": "vm",
        "quantity": 1,
        "amount_cents": cents,
        "occurred_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def publish(
    stream: TestStream,
    records: list[dict],
    *,
    key: nacl.signing.SigningKey = NODE_KEY,
    url: str = NATS_URL,
) -> None:
    async def go() -> None:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(url)
        js = nc.jetstream()
        try:
            await js.stream_info(stream.name)
        except NotFoundError:
            await js.add_stream(name=stream.name, subjects=[f"{stream.prefix}.>"])
        for rec in records:
            body = json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()
            await js.publish(
                f"{stream.prefix}.{rec['node']}",
                body,
                headers={
                    "Nats-Msg-Id": rec["key"],
                    "Hero-Signature": key.sign(body).signature.hex(),
                },
            )
        await nc.close()

    asyncio.run(go())


def bridge_env(stream: TestStream, **extra: str) -> dict[str, str]:
    return {
        "HERO_NATS_URL": NATS_URL,
        "HERO_NATS_STREAM": stream.name,
        "HERO_NATS_SUBJECT_PREFIX": stream.prefix,
        **extra,
    }


def start_bridge(stack: Stack, stream: TestStream, name: str = "bridge", **extra: str):
    from tests.support.procs import HeroProcess

    proc = HeroProcess(
        "bridge", {**stack.env, **bridge_env(stream, **extra)}, stack.log_dir, name=name
    ).start()
    stack.processes.append(proc)
    proc.wait_for_log("bridge.started")
    return proc


def dead_letters(amqp_url: str) -> int:
    """Messages waiting in the usage queue's dead-letter queue (dramatiq's ``usage.XQ``)."""
    conn = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = conn.channel()
        try:
            declared = channel.queue_declare("usage.XQ", passive=True)
        except pika.exceptions.ChannelClosedByBroker:
            return 0
        return int(declared.method.message_count)
    finally:
        conn.close()
