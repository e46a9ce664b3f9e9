"""hero-admin against the real stack: unmatched payments, audit, signed adjustments."""

from __future__ import annotations

import json

import nacl.signing

from models import Account, AdminAudit, Billing, LedgerEntry, db
from tests.integration.conftest import STRIPE_SECRET, Stack
from tests.integration.test_stripe_webhooks import ADDRESS, PROCESSED, balance, make_account, post
from tests.support.procs import hero_admin
from tests.support.stripe_events import checkout_completed, signed

STRANGER = "41f:9a01:3c22:7e10:aa55:1234:5678:9abc"


def test_unknown_account_is_parked_listed_and_applied_once_when_it_exists(stack: Stack) -> None:
    # Given a payment for an address nobody has an account for
    url = stack.gateway()
    worker = stack.worker()
    body, headers = signed(checkout_completed(address=STRANGER, amount_cents=4200), STRIPE_SECRET)
    assert post(url, body, headers).status_code == 200
    worker.wait_lines(*PROCESSED, count=1)

    # Then it is parked and listed for operators
    listed = hero_admin("unmatched", "list", "--json", env=stack.admin_env())
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert [i["address"] for i in items] == [STRANGER]
    assert "no account" in items[0]["reason"]
    assert hero_admin("unmatched", "retry", env=stack.admin_env()).returncode == 0
    assert Account.select().count() == 0

    # When the account exists and an operator retries (twice)
    added = hero_admin("user", "add", STRANGER, env=stack.admin_env())
    assert added.returncode == 0, added.stdout + added.stderr
    for _ in range(2):
        retried = hero_admin("unmatched", "retry", env=stack.admin_env())
        assert retried.returncode == 0, retried.stdout + retried.stderr

    # Then it is credited once and no longer listed
    assert balance(STRANGER) == 4200
    assert LedgerEntry.select().count() == 1
    assert json.loads(hero_admin("unmatched", "list", "--json", env=stack.admin_env()).stdout) == []
    shown = json.loads(hero_admin("user", "show", STRANGER, "--json", env=stack.admin_env()).stdout)
    assert shown["balance_cents"] == 4200 and shown["lifetime_paid_cents"] == 4200
    assert shown["first_paid_at"] is not None and shown["overdrawn"] is False


def test_audit_passes_on_the_ledger_and_fails_after_a_change_behind_its_back(
    stack: Stack,
) -> None:
    make_account()
    url = stack.gateway()
    worker = stack.worker()
    assert (
        post(
            url, *signed(checkout_completed(address=ADDRESS, amount_cents=900), STRIPE_SECRET)
        ).status_code
        == 200
    )
    worker.wait_lines(*PROCESSED, count=1)
    adjusted = hero_admin(
        "balance", "adjust", ADDRESS, "--by", "-150", "--reason", "goodwill", env=stack.admin_env()
    )
    assert adjusted.returncode == 0, adjusted.stdout + adjusted.stderr

    ok = hero_admin("audit", "--json", env=stack.admin_env())
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["ok"] is True

    db.execute_sql("UPDATE billing SET balance_cents = balance_cents + 1")
    broken = hero_admin("audit", "--json", env=stack.admin_env())
    assert broken.returncode == 1
    mismatch = json.loads(broken.stdout)["mismatches"][0]
    assert (mismatch["balance_cents"], mismatch["ledger_sum_cents"]) == (751, 750)


def test_balance_adjust_without_a_key_or_with_an_unknown_key_is_refused_and_audited(
    stack: Stack,
    tmp_path,
) -> None:
    make_account()
    stack.worker()
    stranger_key = tmp_path / "stranger.key"
    stranger_key.write_text(nacl.signing.SigningKey.generate().encode().hex())

    unsigned = hero_admin(
        "balance",
        "adjust",
        ADDRESS,
        "--to",
        "100000",
        "--reason",
        "free money",
        env=stack.admin_env(with_key=False),
    )
    foreign = hero_admin(
        "balance",
        "adjust",
        ADDRESS,
        "--by",
        "100000",
        "--reason",
        "free money",
        env={**stack.admin_env(), "HERO_OPERATOR_KEY": str(stranger_key)},
    )

    assert unsigned.returncode == 1 and "unsigned" in unsigned.stdout
    assert foreign.returncode == 1 and "not in HERO_OPERATOR_PUBKEYS" in foreign.stdout
    assert Billing.get().balance_cents == 0
    refusals = list(AdminAudit.select().where(AdminAudit.outcome == "refused"))
    assert len(refusals) == 2
    assert {r.action for r in refusals} == {"balance_adjust"}

    allowed = hero_admin(
        "balance", "adjust", ADDRESS, "--to", "500", "--reason", "promo", env=stack.admin_env()
    )
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert Billing.get().balance_cents == 500
    entry = LedgerEntry.get()
    assert entry.kind == "adjustment" and json.loads(entry.details)["reason"] == "promo"
