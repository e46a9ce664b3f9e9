"""Send actor messages as the gateway does, one JSON line ``[actor, kwargs]`` per message.

Run as ``python -m tests.chaos.send`` with the stack's ``HERO_*`` environment; each line is
confirmed by RabbitMQ before ``ok`` is printed for it, so the caller knows what was sent.
"""

from __future__ import annotations

import json
import sys

import actors
from messages import message_named
from runtime.bootstrap import bootstrap
from settings import Settings


def main() -> int:
    bootstrap(Settings.from_env(), create_database=False)
    for line in sys.stdin:
        name, kwargs = json.loads(line)
        actors.send(message_named(name, kwargs))
        print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
