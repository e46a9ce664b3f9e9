"""HTTP load generator, run in its own process: ``python -m bench.loadgen --url ... --input F``.

Each thread holds one keep-alive ``http.client`` connection and posts its share of the
prepared requests (one JSON line each: ``{"body": ..., "signature": ...}``) one after
another. The first ``--warmup`` requests are sent untimed, so every server thread has
opened its broker channel before the clock starts; the rest are sent ``--repeat`` times
(only a server that ignores the bodies should get repeats). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import threading
import time
from collections import Counter
from urllib.parse import urlsplit

#: Where every request is posted.
WEBHOOK_PATH = "/webhooks/stripe"


class Client(threading.Thread):
    """One thread, one keep-alive connection, its share of the requests."""

    def __init__(
        self,
        host: str,
        port: int,
        requests: list[tuple[bytes, str]],
        start: threading.Barrier,
        conn: http.client.HTTPConnection | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self._host, self._port = host, port
        self._requests = requests
        self._start = start
        self.statuses: Counter[str] = Counter()
        self.latencies_s: list[float] = []
        self.errors: list[str] = []
        if conn is None:
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.connect()
        self.conn = conn

    def run(self) -> None:
        self._start.wait()
        for body, signature in self._requests:
            headers = {"Content-Type": "application/json", "Stripe-Signature": signature}
            began = time.perf_counter()
            try:
                self.conn.request("POST", WEBHOOK_PATH, body=body, headers=headers)
                answer = self.conn.getresponse()
                answer.read()
            except (OSError, http.client.HTTPException) as exc:
                self.errors.append(repr(exc))
                self.conn.close()
                self.conn = http.client.HTTPConnection(self._host, self._port, timeout=60)
                continue
            self.latencies_s.append(time.perf_counter() - began)
            self.statuses[str(answer.status)] += 1


def drive(clients: list[Client], start: threading.Barrier) -> float:
    """Release *clients* together; return the seconds until the last one finished."""
    for client in clients:
        client.start()
    start.wait()
    began = time.perf_counter()
    for client in clients:
        client.join()
    return time.perf_counter() - began


def run(
    url: str, items: list[tuple[bytes, str]], *, threads: int, warmup: int, repeat: int = 1
) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    warm, timed = items[:warmup], items[warmup:] * repeat
    conns: list[http.client.HTTPConnection | None] = [None] * threads
    if warm:
        barrier = threading.Barrier(threads + 1)
        clients = [Client(host, port, warm[i::threads], barrier) for i in range(threads)]
        drive(clients, barrier)
        conns = [c.conn for c in clients]
    barrier = threading.Barrier(threads + 1)
    clients = [Client(host, port, timed[i::threads], barrier, conns[i]) for i in range(threads)]
    seconds = drive(clients, barrier)
    for client in clients:
        client.conn.close()
    statuses: Counter[str] = Counter()
    latencies = sorted(s for c in clients for s in c.latencies_s)
    for client in clients:
        statuses.update(client.statuses)
    errors = [e for c in clients for e in c.errors]
    return {
        "requests": len(timed),
        "seconds": seconds,
        "rate_per_s": len(timed) / seconds if seconds else 0.0,
        "statuses": dict(statuses),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "p50_ms": statistics.median(latencies) * 1e3 if latencies else None,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1e3 if latencies else None,
        "threads": threads,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--url", required=True)
    parser.add_argument("--input", required=True, help="JSON lines: body, signature")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    with open(args.input, encoding="utf-8") as lines:
        items = [(row["body"].encode(), row["signature"]) for row in map(json.loads, lines)]
    result = run(args.url, items, threads=args.threads, warmup=args.warmup, repeat=args.repeat)
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
