"""``hero-node``: the node agent's CLI (keygen, record, serve, flush, status, quarantine,
intake-token, credit)."""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import structlog

from node_agent.journal import JournalError
from node_agent.keys import NodeKeyError, generate_key_file, intake_token, load_key
from node_agent.records import cli_report, field_of
from node_agent.service import build_committer, open_journal, record_report, serve
from node_agent.settings import ConfigError, NodeSettings
from wire.logs import configure_logging
from wire.otoml import RecordError, parse_time
from wire.signals import stop_on_signals

log = structlog.get_logger("hero.node")

#: Done as asked.
EXIT_OK = 0
#: Not done yet, will be retried: flush could not commit or push everything.
EXIT_PENDING = 1
#: Bad usage, configuration or input (the message names the field or variable).
EXIT_USAGE = 2
#: The journal could not be opened or written (nothing was recorded).
EXIT_JOURNAL = 3
#: ``quarantine retry``: some rows are still no valid record and stay quarantined.
EXIT_STILL_QUARANTINED = 4
#: Quarantined journal rows shown by ``status`` (the count covers them all).
STATUS_QUARANTINED = 10
#: Quarantined journal rows listed by ``quarantine`` unless ``--limit`` says otherwise.
QUARANTINE_LIST_LIMIT = 100


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hero-node", description="Record, publish and commit this host's usage."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="make the node's Ed25519 signing key")
    keygen.add_argument("--out", required=True, help="file to write the hex seed to (0600)")

    record = sub.add_parser("record", help="journal one usage record and print its key")
    record.add_argument("--user", required=True, help="the user's Mycelium address")
    record.add_argument("--kind", required=True, help="vm_hour, llm_token, hero_os_hour, other")
    record.add_argument("--quantity", required=True, help="units consumed (integer)")
    record.add_argument("--amount-cents", required=True, help="undiscounted cost in cents")
    record.add_argument(
        "--applies-to",
        help="hero_os_hourly, llm or vm (default: from --kind:"
        " vm_hour vm, llm_token llm, otherwise hero_os_hourly)",
    )
    record.add_argument(
        "--at",
        help="when it happened, RFC 3339 with a zone, e.g. 2026-11-21T14:03:10Z (default: now)",
    )

    sub.add_parser("serve", help="intake endpoint, NATS publisher and hourly committer")
    sub.add_parser("flush", help="commit every uncommitted record now and push")

    status = sub.add_parser("status", help="how far the journal's records have got")
    status.add_argument("--json", action="store_true", help="print JSON")
    quarantine = sub.add_parser(
        "quarantine", help="list the journal rows set aside, or re-admit them (retry)"
    )
    quarantine.add_argument("--json", action="store_true", help="print JSON")
    quarantine.add_argument(
        "--limit",
        type=_limit,
        default=QUARANTINE_LIST_LIMIT,
        help=f"list at most this many rows, 0 for all (default {QUARANTINE_LIST_LIMIT})",
    )
    actions = quarantine.add_subparsers(dest="action")
    retry = actions.add_parser(
        "retry", help="check rows again with the record rules; re-admit the valid ones"
    )
    retry.add_argument("keys", nargs="*", metavar="KEY", help="a row's key, e.g. node-a:42")
    retry.add_argument("--all", action="store_true", help="every quarantined row")
    # SUPPRESS: `quarantine --json retry` keeps the --json given before the action (a
    # sub-parser's own default would put False back over it).
    retry.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
    sub.add_parser("intake-token", help="print the intake's bearer token (made if missing)")
    credit = sub.add_parser("credit", help="an account's credit state as this host knows it")
    credit.add_argument("address", help="the user's Mycelium address")
    credit.add_argument("--json", action="store_true", help="print JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    if args.command == "keygen":
        return _keygen(args.out)
    try:
        settings = NodeSettings.from_env()
    except ConfigError as exc:
        print(f"hero-node: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    configure_logging()
    try:
        handler = {
            "record": _record,
            "serve": _serve,
            "flush": _flush,
            "status": _status,
            "quarantine": _quarantine,
            "intake-token": _intake_token,
            "credit": _credit,
        }
        return handler[args.command](args, settings)
    except (JournalError, sqlite3.Error) as exc:
        print(f"hero-node: journal {settings.journal_path}: {exc}", file=sys.stderr)
        return EXIT_JOURNAL
    except NodeKeyError as exc:
        print(f"hero-node: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def _keygen(path: str) -> int:
    try:
        key = generate_key_file(path)
    except FileExistsError:
        print(f"hero-node: {path} exists; choose another --out", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"hero-node: cannot write {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(
        f"wrote the node's private key to {path} (HERO_NODE_KEY); its public key, "
        "for `hero-admin node add --pubkey`:"
    )
    print(key.verify_key.encode().hex())
    return EXIT_OK


def _record(args: argparse.Namespace, settings: NodeSettings) -> int:
    if args.at is not None:
        problem = _bad_time(args.at)
        if problem:
            print(f"hero-node: --at: {problem}", file=sys.stderr)
            return EXIT_USAGE
    report = cli_report(
        user=args.user,
        kind=args.kind,
        quantity=args.quantity,
        amount_cents=args.amount_cents,
        applies_to=args.applies_to,
        at=args.at,
    )
    with open_journal(settings) as journal:
        try:
            record = record_report(journal, report)
        except RecordError as exc:
            option = "--at: " if field_of(exc) == "occurred_at" else ""
            print(f"hero-node: {option}{exc}", file=sys.stderr)
            return EXIT_USAGE
    print(record.key)
    return EXIT_OK


def _bad_time(text: str) -> str | None:
    """Why *text* is no time ``--at`` accepts, or None when it is one."""
    try:
        parse_time(text, "occurred_at")
    except RecordError as exc:
        return str(exc)
    except (ValueError, OverflowError, OSError):
        return f"occurred_at: {text!r} is not a time this node can record"
    return None


def _limit(text: str) -> int:
    """``--limit``: a count of rows, 0 for all."""
    if not text.isascii() or not text.isdigit() or len(text) > 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of rows (0 for all)")
    return int(text)


def _quarantine(args: argparse.Namespace, settings: NodeSettings) -> int:
    if args.action == "retry":
        return _quarantine_retry(args, settings)
    with open_journal(settings) as journal:
        total = journal.counts().quarantined
        rows = journal.quarantined(limit=args.limit or -1)
    more = max(total - len(rows), 0)
    if args.json:
        report = {"node": settings.name, "quarantined": total, "rows": rows, "more": more}
        print(json.dumps(report, sort_keys=True))
        return EXIT_OK
    print(f"node {settings.name}: {total} quarantined")
    for row in rows:
        print(f"{row['key']} at {row['quarantined_at']}: {_one_line(row['reason'])}")
    if more:
        print(f"... {more} more (--limit 0 lists all)")
    if total:
        print(
            "re-admit them after an upgrade or a passing fault with "
            "`hero-node quarantine retry KEY ...` or `--all`",
            file=sys.stderr,
        )
    return EXIT_OK


def _quarantine_retry(args: argparse.Namespace, settings: NodeSettings) -> int:
    if bool(args.keys) == bool(args.all):
        print(
            "hero-node: quarantine retry: give the keys of the rows or --all (not both)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with open_journal(settings) as journal:
        outcome = journal.retry_quarantined(None if args.all else args.keys)
    if outcome.unknown:
        print(
            f"hero-node: KEY: {_one_line(', '.join(outcome.unknown))}: no such row in the "
            f"journal of node {settings.name}; nothing was changed",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.json:
        print(json.dumps({"node": settings.name, **outcome.as_dict()}, sort_keys=True))
    else:
        for key in outcome.readmitted:
            print(f"{key}: re-admitted")
        for key in outcome.not_quarantined:
            print(f"{key}: not quarantined, nothing to do")
        for row in outcome.still_quarantined:
            print(f"{row['key']}: still quarantined: {_one_line(row['reason'])}")
        print(
            f"{len(outcome.readmitted)} re-admitted, "
            f"{len(outcome.still_quarantined)} still quarantined"
        )
    if outcome.still_quarantined:
        print(
            "hero-node: some rows are still no valid record (reasons above); they stay quarantined",
            file=sys.stderr,
        )
        return EXIT_STILL_QUARANTINED
    return EXIT_OK


def _one_line(text: str) -> str:
    """*text* with control characters (a newline in a reason) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _intake_token(args: argparse.Namespace, settings: NodeSettings) -> int:
    print(intake_token(given=settings.intake_token, path=settings.intake_token_path))
    return EXIT_OK


def _credit(args: argparse.Namespace, settings: NodeSettings) -> int:
    import requests

    host = settings.intake_host if ":" not in settings.intake_host else f"[{settings.intake_host}]"
    token = intake_token(given=settings.intake_token, path=settings.intake_token_path)
    try:
        resp = requests.get(
            f"http://{host}:{settings.intake_port}/credit/{quote(args.address, safe='')}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        answer = resp.json()
    except (requests.RequestException, ValueError) as exc:
        print(
            f"hero-node: the agent at {host}:{settings.intake_port} does not answer "
            f"(is `hero-node serve` running?): {exc}",
            file=sys.stderr,
        )
        return EXIT_PENDING
    if resp.status_code != 200:
        print(f"hero-node: {answer.get('field', 'credit')}: {answer.get('error')}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(answer, sort_keys=True))
        return EXIT_OK
    age = answer.get("age_s")
    line = f"{answer['address']}: {answer['state']}"
    if "balance_cents" in answer:
        line += f", balance {answer['balance_cents']} cents (floor {answer['floor_cents']})"
    line += f"; known {'never' if age is None else f'{age:.1f} s ago'}"
    print(line + (f" ({answer['reason']})" if answer.get("reason") else ""))
    return EXIT_OK


def _serve(args: argparse.Namespace, settings: NodeSettings) -> int:
    key = load_key(settings.key_path)
    stop = threading.Event()

    stop_on_signals(
        stop, on_signal=lambda signum: log.info("node.stopping", signal=signal.Signals(signum).name)
    )
    try:
        serve(settings, key, stop=stop)
    except OSError as exc:
        print(
            f"hero-node: cannot serve on {settings.intake_host}:{settings.intake_port}: {exc}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return EXIT_OK


def _flush(args: argparse.Namespace, settings: NodeSettings) -> int:
    if not settings.repo:
        print(
            "hero-node: configuration error: HERO_NODE_REPO: not set; nowhere to push",
            file=sys.stderr,
        )
        return EXIT_USAGE
    key = load_key(settings.key_path)
    committer = build_committer(settings, key)
    with open_journal(settings) as journal:
        outcome = committer.run(journal, include_open=True)
        counts = journal.counts()
    print(
        f"{len(outcome.commits)} commit(s); {counts.committed}/{counts.journalled} "
        f"committed, {counts.pushed} pushed"
    )
    if outcome.failed_hours or not outcome.pushed:
        print(
            "hero-node: not everything reached the remote; it is retried by the next "
            "flush or by serve",
            file=sys.stderr,
        )
        return EXIT_PENDING
    return EXIT_OK


def _status(args: argparse.Namespace, settings: NodeSettings) -> int:
    with open_journal(settings) as journal:
        counts = journal.counts()
        quarantined = journal.quarantined(limit=STATUS_QUARANTINED)
    report: dict[str, Any] = {
        "node": settings.name,
        **counts.as_dict(),
        "quarantined_rows": quarantined,
    }
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return EXIT_OK
    print(
        f"node {settings.name}: {counts.journalled} journalled, {counts.published} "
        f"published, {counts.committed} committed, {counts.pushed} pushed, "
        f"{counts.quarantined} quarantined"
    )
    for stage in ("oldest_unpublished", "oldest_unpushed"):
        oldest = report[stage]
        if oldest:
            print(f"{stage.replace('_', ' ')}: {oldest['key']} (recorded {oldest['recorded_at']})")
    for row in quarantined:
        print(f"quarantined: {row['key']} at {row['quarantined_at']}: {row['reason']}")
    if counts.quarantined:
        print(
            "hero-node: quarantined rows are never published or committed; see the reasons above",
            file=sys.stderr,
        )
    return EXIT_OK
