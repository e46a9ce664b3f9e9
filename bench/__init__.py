"""``make bench``: the product's throughput and memory, each beside its physical limit.

Every figure is measured in the same run as the limit it is set against (a bare Falcon +
waitress endpoint, raw confirmed pika publishes, raw psycopg2 transactions, a dramatiq
no-op actor; for usage records raw batched SQL, raw JetStream publishes and pulls, and
``tomli`` parsing the same batch files), because client, servers and broker share the same
few cores: the ratio is the figure to quote, not the absolute number. The table is
printed and the same figures are written to ``var/bench.json``.
"""

from __future__ import annotations
