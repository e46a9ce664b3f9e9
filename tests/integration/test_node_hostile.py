"""``hero-node serve`` as a real process against careless and hostile input.

A broken journal row must neither stop publishing and committing nor pass silently; the
intake must answer only services on the host that hold its token.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
from pathlib import Path

import requests

from tests.support.git_http import GitHttpServer
from tests.support.nats_helpers import TestStream, stream_messages
from tests.support.node_stack import (  # noqa: F401 - fixtures used by name
    USER,
    MakeNode,
    NodeProcess,
    forge,
    forge_batches,
    make_node,
    stream,
    wait_published,
)
from tests.support.procs import wait_until
from tests.support.services import free_port

REPORT = {"user": USER, "resource_kind": "vm_hour", "quantity": 1, "amount_cents": 10}


def test_a_broken_journal_row_is_quarantined_and_the_others_are_published_and_pushed(
    make_node: MakeNode,  # noqa: F811
    stream: TestStream,  # noqa: F811
    forge: GitHttpServer,  # noqa: F811
) -> None:
    # Given a journal of three records from two hours ago, the middle one broken by hand
    node = make_node(stream=stream, forge=forge, HERO_NODE_COMMIT_INTERVAL_S="1")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    keys = [node.record(at=earlier) for _ in range(3)]
    db = sqlite3.connect(node.env["HERO_NODE_JOURNAL"])
    db.execute("UPDATE records SET body = '{\"key\": 1' WHERE key = ?", (keys[1],))
    db.commit()
    db.close()

    # When the agent serves
    serving = node.serve()

    # Then the two good records are published and committed to the Forge
    wait_published(node, 2)
    assert sorted(m.headers["Nats-Msg-Id"] for m in stream_messages(stream.name)) == sorted(
        [keys[0], keys[2]]
    )
    wait_until(lambda: node.status()["pushed"] == 2, timeout=60, what="2 records pushed")
    batches = forge_batches(forge, node)
    assert sorted(k for ks in batches.values() for k in ks) == sorted([keys[0], keys[2]])
    # And the broken one is quarantined, counted, named by status and logged as an error
    status = node.status()
    assert status["quarantined"] == 1
    assert [r["key"] for r in status["quarantined_rows"]] == [keys[1]]
    assert serving.count_lines("journal.record_quarantined", keys[1]) >= 1
    # And the agent keeps serving: a new report still goes all the way
    node.post()
    wait_published(node, 3)


def test_a_row_quarantined_by_a_passing_fault_is_retried_while_serving_and_goes_all_the_way(
    make_node: MakeNode,  # noqa: F811
    stream: TestStream,  # noqa: F811
    forge: GitHttpServer,  # noqa: F811
) -> None:
    # Given a journal of two valid records of two hours ago, the second set aside by a
    # fault since gone (as the agent's own quarantine would have set it)
    node = make_node(stream=stream, forge=forge, HERO_NODE_COMMIT_INTERVAL_S="1")
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    keys = [node.record(at=earlier) for _ in range(2)]
    db = sqlite3.connect(node.env["HERO_NODE_JOURNAL"])
    db.execute(
        "UPDATE records SET quarantined_at = '2026-11-21T14:00:00Z',"
        " quarantine_reason = 'OSError: disk I/O error' WHERE key = ?",
        (keys[1],),
    )
    db.commit()
    db.close()
    serving = node.serve()
    wait_until(lambda: node.status()["pushed"] == 1, timeout=60, what="1 record pushed")
    # (the first one's hour is committed and pushed without it)
    assert forge_batches(forge, node)

    # When the operator retries it while the agent serves
    retried = node.cli("quarantine", "retry", keys[1])

    # Then it is re-admitted and published and pushed under its own key
    assert retried.returncode == 0, retried.stderr
    assert f"{keys[1]}: re-admitted" in retried.stdout
    wait_published(node, 2)
    wait_until(lambda: node.status()["pushed"] == 2, timeout=60, what="2 records pushed")
    assert sorted(m.headers["Nats-Msg-Id"] for m in stream_messages(stream.name)) == sorted(keys)
    batches = forge_batches(forge, node)
    assert sorted(k for ks in batches.values() for k in ks) == sorted(keys)
    assert node.status()["quarantined"] == 0
    assert serving.proc is not None and serving.proc.poll() is None


def test_the_intake_token_is_made_0600_at_first_start_and_required(make_node: MakeNode) -> None:  # noqa: F811
    node = make_node()
    node.serve()
    token_file = Path(node.env["HERO_NODE_INTAKE_TOKEN_FILE"])
    url = f"{node.intake_url}/usage"

    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert node.cli("intake-token").stdout.strip() == token
    assert requests.post(url, json=REPORT, timeout=10).status_code == 401
    assert (
        requests.post(
            url,
            json=REPORT,
            timeout=10,
            headers={"Authorization": f"Bearer {token}", "Origin": "http://127.0.0.1:8080"},
        ).status_code
        == 403
    )
    assert (
        requests.post(
            url,
            data="user=x",
            timeout=10,
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        ).status_code
        == 415
    )
    assert (
        requests.post(
            url, json=REPORT, timeout=10, headers={"Authorization": f"Bearer {token}"}
        ).status_code
        == 201
    )
    assert node.status()["journalled"] == 1


def test_an_intake_beyond_loopback_is_warned_about(make_node: MakeNode) -> None:  # noqa: F811
    port = free_port()
    node = make_node(HERO_NODE_INTAKE_ADDR=f"0.0.0.0:{port}")
    serving = NodeProcess("hero-node serve", node.env, node.log_dir, name="wide").start()
    node.processes.append(serving)

    serving.wait_http(f"http://127.0.0.1:{port}/healthz")

    serving.wait_lines("node.intake_not_loopback", "0.0.0.0")  # noqa: S104
