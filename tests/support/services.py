"""Probes and set-up for the local services the integration tests use."""

from __future__ import annotations

import os
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
