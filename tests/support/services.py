"""Probes and set-up for the local services the integration tests use."""

from __future__ import annotations

import os
import random
import socket

import psycopg2
from psycopg2 import sql

#: In CI a missing service fails the run instead of skipping tests.
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_ADMIN_DSN = os.environ.get("HERO_TEST_PG_DSN", "host=127.0.0.1 port=5432 user=postgres")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def pg_reachable() -> bool:
    return port_open(5432)


def amqp_reachable() -> bool:
    return port_open(5672)


def nats_reachable() -> bool:
    return port_open(4222)


def create_pg_database(name: str) -> str:
    conn = psycopg2.connect(PG_ADMIN_DSN + " dbname=postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    conn = psycopg2.connect(PG_ADMIN_DSN + " dbname=postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.close()


#: Where test servers listen: below the kernel's ephemeral range, so that the port handed
#: out cannot be taken meanwhile as the local end of some outgoing connection (a port from
#: ``bind(0)`` can, between the test picking it and its server binding it).
TEST_PORTS = range(20000, 32000)


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port no one listens on now, outside the range outgoing connections draw from."""
    low = _ephemeral_low()
    ports = [p for p in random.sample(TEST_PORTS, 200) if p < low]
    for port in ports:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # the kernel's choice, as a last resort
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
