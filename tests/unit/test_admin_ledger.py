"""hero-admin ledger, audit-log, pool retire and payments refund: pages that join up, every
change audited, a VM in use or a ClickPesa payment refused with the reason said."""

from __future__ import annotations

import json
from typing import Any

import pytest

from models import Account, AdminAudit, Billing, PaymentEvent, VmPoolSlot
from runtime import bootstrap
from tests.support.admin import ADDRESS, admin_env, run  # noqa: F401 - admin_env is a fixture

__all__ = ["admin_env"]


def test_ledger_pages_newest_first_and_the_pages_join_up(admin_env: None) -> None:
    # Given an account with seven adjustments
    run("user", "add", ADDRESS)
    for cents in range(1, 8):
        assert (
            run("balance", "adjust", ADDRESS, "--by", str(cents), "--reason", f"r{cents}")[0] == 0
        )
    # When its ledger is read three entries at a time
    seen: list[int] = []
    before: list[str] = []
    for _ in range(3):
        code, out = run("ledger", ADDRESS, "--json", "--limit", "3", *before)
        page = json.loads(out)
        seen += [e["amount_cents"] for e in page["entries"]]
        if page["next_before"] is None:
            break
        before = ["--before", str(page["next_before"])]
    # Then every entry comes once, newest first, with its reason
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert page["next_before"] is None
    code, out = run("ledger", ADDRESS, "--limit", "2")
    assert code == 0 and "r7" in out and "more: add --before" in out


def test_ledger_of_an_unknown_account_says_so(admin_env: None) -> None:
    code, out = run("ledger", ADDRESS)
    assert code == 1 and "no account for" in out


def test_audit_log_names_each_change_and_its_refusal(admin_env: None) -> None:
    run("user", "add", ADDRESS)
    run("balance", "adjust", ADDRESS, "--by", "250", "--reason", "goodwill")
    run("pool", "retire", "vm-nope", "--reason", "broken disk")
    code, out = run("audit-log", "--json")
    rows = json.loads(out)["rows"]
    assert [r["action"] for r in rows] == ["pool_retire", "balance_adjust", "user_add"]
    assert rows[0]["outcome"] == "refused" and "no VM 'vm-nope'" in rows[0]["refusal"]
    assert rows[1]["reason"] == "goodwill" and rows[1]["operator"] == rows[1]["operator_pubkey"]
    code, out = run("audit-log", "--action", "balance_adjust", "--json")
    assert [r["action"] for r in json.loads(out)["rows"]] == ["balance_adjust"]


def test_pool_retire_takes_a_free_vm_out_and_refuses_one_in_use(admin_env: None) -> None:
    run("pool", "add", "vm-1", "vm-2")
    VmPoolSlot.update(status="assigned").where(VmPoolSlot.vm_id == "vm-2").execute()
    assert run("pool", "retire", "vm-1", "--reason", "old") == (0, "retired VM vm-1\n")
    assert run("pool", "retire", "vm-1", "--reason", "old")[1] == "was already retired: VM vm-1\n"
    code, out = run("pool", "retire", "vm-2", "--reason", "old")
    assert code == 1 and "vm-2 is in use" in out
    assert VmPoolSlot.get(VmPoolSlot.vm_id == "vm-2").status == "assigned"
    assert VmPoolSlot.get(VmPoolSlot.vm_id == "vm-1").status == "retired"


class Recorder:
    """A refunder that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def create_refund(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"id": "re_1", "status": "pending", "amount": kwargs["amount_cents"]}


@pytest.fixture
def refunder(admin_env: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    recorder = Recorder()
    monkeypatch.setattr(bootstrap, "_refunders", lambda settings: {"stripe": recorder})
    return recorder


def paid(provider: str, key: str, amount: int = 3000) -> PaymentEvent:
    run("user", "add", ADDRESS)
    account = Account.get()
    return PaymentEvent.create(
        provider=provider,
        kind="payment",
        key=key,
        address=ADDRESS,
        account=account,
        amount_cents=amount,
        status="applied",
    )


def test_refund_asks_stripe_once_with_an_idempotency_key_and_leaves_the_balance(
    refunder: Recorder,
) -> None:
    payment = paid("stripe", "pi_123")
    code, out = run("payments", "refund", str(payment.id), "--amount", "1000", "--reason", "asked")
    assert code == 0 and "asked for a refund of $10.00 of pi_123: re_1" in out
    [call] = refunder.calls
    assert call["payment_key"] == "pi_123" and call["amount_cents"] == 1000
    assert call["idempotency_key"].startswith("hero-refund-")
    assert call["metadata"]["reason"] == "asked"
    assert Billing.get().balance_cents == 0
    audit = AdminAudit.select().order_by(AdminAudit.id.desc()).first()
    assert audit.action == "payment_refund" and audit.outcome == "applied"


def test_refund_defaults_to_what_remains_and_refuses_more(refunder: Recorder) -> None:
    paid("stripe", "pi_9", amount=500)
    assert run("payments", "refund", "pi_9", "--reason", "all")[0] == 0
    assert refunder.calls[0]["amount_cents"] == 500
    code, out = run("payments", "refund", "pi_9", "--amount", "501", "--reason", "x")
    assert code == 1 and "amount_cents: 501 is not between 1 and the 500 cents" in out


def test_a_clickpesa_payment_cannot_be_refunded_through_the_api(refunder: Recorder) -> None:
    payment = paid("clickpesa", "CP123")
    code, out = run("payments", "refund", str(payment.id), "--reason", "asked")
    assert code == 1 and "ClickPesa payments cannot be refunded through ClickPesa's API" in out
    assert refunder.calls == []


def test_refund_of_an_unknown_payment_or_without_stripe_is_refused(admin_env: None) -> None:
    code, out = run("payments", "refund", "pi_nope", "--reason", "x")
    assert code == 1 and "no payment 'pi_nope'" in out
    paid("stripe", "pi_5")
    code, out = run("payments", "refund", "pi_5", "--reason", "x")
    assert code == 1 and "no stripe API is configured" in out
