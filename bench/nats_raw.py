"""The NATS limits, each in its own process so its rate and RSS are its own.

``python -m bench.nats_raw publish URL STREAM PREFIX FILE``: publish the prepared messages
of FILE (one a line: subject, msg id, signature, body, tab-separated) to JetStream,
creating STREAM on ``PREFIX.>`` when missing; publishes are pipelined, ``WINDOW``
PubAcks awaited together, the file read a window at a time.

``python -m bench.nats_raw consume URL STREAM PREFIX COUNT --durable NAME``: a durable
pull consumer that fetches ``--batch`` (500, the bridge's fetch) messages at a time and
acks each, until COUNT were acked; the consumer is deleted afterwards.

Each prints one JSON object with the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from typing import Any

import nats
from nats.errors import TimeoutError as FetchTimeout
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import NotFoundError

#: Publishes in flight at once (their PubAcks are gathered).
WINDOW = 1000


async def publish(url: str, stream: str, prefix: str, path: str) -> dict[str, Any]:
    """Publish FILE's lines, read a window at a time (as a node agent reads its journal)."""
    nc = await nats.connect(url)
    published = duplicates = 0
    try:
        js = nc.jetstream(timeout=10)
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
        with open(path, encoding="utf-8") as lines:
            began = time.perf_counter()
            while True:
                window = [
                    line.rstrip("\n").split("\t", 3) for line in itertools.islice(lines, WINDOW)
                ]
                if not window:
                    break
                acks = await asyncio.gather(
                    *(
                        js.publish(
                            subject,
                            body.encode(),
                            headers={"Nats-Msg-Id": msg_id, "Hero-Signature": sig},
                        )
                        for subject, msg_id, sig, body in window
                    )
                )
                published += len(acks)
                duplicates += sum(1 for a in acks if a.duplicate)
            seconds = time.perf_counter() - began
    finally:
        await nc.close()
    return {
        "published": published,
        "duplicates": duplicates,
        "seconds": seconds,
        "window": WINDOW,
        "rate_per_s": published / seconds if seconds else 0.0,
    }


async def consume(
    url: str, stream: str, prefix: str, count: int, *, durable: str, batch: int, timeout_s: float
) -> dict[str, Any]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=10)
        sub = await js.pull_subscribe(
            f"{prefix}.>",
            durable=durable,
            stream=stream,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=120, max_ack_pending=20 * batch
            ),
        )
        acked = fetches = 0
        began = time.perf_counter()
        deadline = began + timeout_s
        while acked < count and time.perf_counter() < deadline:
            try:
                msgs = await sub.fetch(batch, timeout=1)
            except FetchTimeout:
                continue
            fetches += 1
            for msg in msgs:
                await msg.ack()
            acked += len(msgs)
        await nc.flush()
        seconds = time.perf_counter() - began
        await js.delete_consumer(stream, durable)
    finally:
        await nc.close()
    return {
        "acked": acked,
        "fetches": fetches,
        "batch": batch,
        "seconds": seconds,
        "rate_per_s": acked / seconds if seconds else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.nats_raw")
    sub = parser.add_subparsers(dest="mode", required=True)
    pub = sub.add_parser("publish")
    con = sub.add_parser("consume")
    for p in (pub, con):
        p.add_argument("url")
        p.add_argument("stream")
        p.add_argument("prefix")
    pub.add_argument("file")
    con.add_argument("count", type=int)
    con.add_argument("--durable", default="bench-raw")
    con.add_argument("--batch", type=int, default=500)
    con.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.mode == "publish":
        result = asyncio.run(publish(args.url, args.stream, args.prefix, args.file))
        ok = result["published"] > 0
    else:
        result = asyncio.run(
            consume(
                args.url,
                args.stream,
                args.prefix,
                args.count,
                durable=args.durable,
                batch=args.batch,
                timeout_s=args.timeout,
            )
        )
        ok = result["acked"] >= args.count
    json.dump(result, sys.stdout)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
