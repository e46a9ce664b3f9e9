"""Operator actions: signed envelopes, applied once, every refusal audited."""

from __future__ import annotations

import json
from typing import Any

import nacl.signing
import pytest

from actors.admin import MAX_ENVELOPE_AGE_S, check_envelope, handle, make_envelope
from actors.ledger import audit_mismatches, post
from models import Account, AdminAudit, Billing, LedgerEntry, write_transaction
from models.errors import AdminRefused
from models.money import MAX_ADJUSTMENT_CENTS, MAX_BALANCE_CENTS
from tests.support.admin import OPERATOR, OPERATOR_PUBKEY
from tests.support.deps import DepsSwitch

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
#: A fixed "now" for signing and checking, in Unix seconds.
NOW = 1_790_000_000.0

STRANGER = nacl.signing.SigningKey(bytes(range(1, 33)))


@pytest.fixture(autouse=True)
def operator_keys(deps: DepsSwitch) -> None:
    deps.set(operator_pubkeys=(OPERATOR_PUBKEY,))


@pytest.fixture
def account(sqlite_db: str) -> Account:
    handle(signed("user_add", {"address": ADDRESS}), now=NOW)
    return Account.get(Account.address == ADDRESS)


def signed(
    action: str, args: dict[str, Any], *, key: nacl.signing.SigningKey = OPERATOR, now: float = NOW
) -> dict[str, Any]:
    return make_envelope(action, args, signing_key=key, now=now)


def adjust(**args: Any) -> dict[str, Any]:
    return signed("balance_adjust", {"address": ADDRESS, "reason": "goodwill", **args})


def audit_of(envelope: dict[str, Any]) -> AdminAudit:
    return AdminAudit.get(AdminAudit.nonce == envelope["nonce"])


def balance() -> int:
    return Billing.get().balance_cents


class TestCheckEnvelope:
    """check_envelope accepts a fresh envelope signed by an allowed key, and nothing else."""

    def test_signed_envelope_from_an_allowed_key_passes(self) -> None:
        check_envelope(adjust(by_cents=1), allowed=(OPERATOR_PUBKEY,), now=NOW)

    def test_unsigned_envelope_is_refused(self) -> None:
        envelope = make_envelope("user_add", {"address": ADDRESS}, signing_key=None, now=NOW)
        with pytest.raises(AdminRefused, match="unsigned"):
            check_envelope(envelope, allowed=(OPERATOR_PUBKEY,), now=NOW)

    def test_unknown_key_is_refused(self) -> None:
        envelope = signed("user_add", {"address": ADDRESS}, key=STRANGER)
        with pytest.raises(AdminRefused, match="not in HERO_OPERATOR_PUBKEYS"):
            check_envelope(envelope, allowed=(OPERATOR_PUBKEY,), now=NOW)

    def test_tampered_args_are_refused(self) -> None:
        envelope = adjust(by_cents=100)
        envelope["args"]["by_cents"] = 100_000
        with pytest.raises(AdminRefused, match="signature does not verify"):
            check_envelope(envelope, allowed=(OPERATOR_PUBKEY,), now=NOW)

    def test_envelope_older_than_the_limit_is_refused(self) -> None:
        with pytest.raises(AdminRefused, match="issued_at"):
            check_envelope(
                adjust(by_cents=1), allowed=(OPERATOR_PUBKEY,), now=NOW + MAX_ENVELOPE_AGE_S + 1
            )

    def test_envelope_from_the_future_is_refused(self) -> None:
        with pytest.raises(AdminRefused, match="issued_at"):
            check_envelope(adjust(by_cents=1), allowed=(OPERATOR_PUBKEY,), now=NOW - 301)


class TestApplied:
    """A signed envelope from an allowed key is carried out."""

    def test_user_add_creates_the_account(self, sqlite_db: str) -> None:
        outcome = handle(signed("user_add", {"address": ADDRESS.upper()}), now=NOW)
        assert outcome["outcome"] == "applied"
        assert Account.select().where(Account.address == ADDRESS).count() == 1

    def test_user_add_creates_a_zero_balance(self, account: Account) -> None:
        assert balance() == 0

    def test_balance_adjust_to_posts_the_difference(self, account: Account) -> None:
        handle(adjust(by_cents=300), now=NOW)
        handle(adjust(to_cents=1000), now=NOW)
        last = LedgerEntry.select().order_by(LedgerEntry.id.desc()).get()
        assert (last.amount_cents, last.balance_after_cents, balance()) == (700, 1000, 1000)

    def test_balance_adjust_to_posts_one_adjustment_entry(self, account: Account) -> None:
        handle(adjust(to_cents=1000), now=NOW)
        assert [(e.kind, e.amount_cents) for e in LedgerEntry.select()] == [("adjustment", 1000)]

    def test_balance_adjust_by_posts_one_adjustment_entry(self, account: Account) -> None:
        handle(adjust(by_cents=-250), now=NOW)
        assert [(e.kind, e.amount_cents) for e in LedgerEntry.select()] == [("adjustment", -250)]

    def test_balance_adjust_by_changes_the_balance(self, account: Account) -> None:
        handle(adjust(by_cents=-250), now=NOW)
        assert balance() == -250

    def test_balance_adjust_records_the_reason(self, account: Account) -> None:
        handle(adjust(by_cents=500), now=NOW)
        assert json.loads(LedgerEntry.get().details)["reason"] == "goodwill"

    def test_balance_adjust_keeps_the_books_balanced(self, account: Account) -> None:
        handle(adjust(by_cents=500), now=NOW)
        handle(adjust(to_cents=-20), now=NOW)
        assert audit_mismatches() == []

    def test_applied_action_is_audited(self, account: Account) -> None:
        envelope = adjust(by_cents=500)
        handle(envelope, now=NOW)
        row = audit_of(envelope)
        assert (row.outcome, row.action, row.operator_pubkey) == (
            "applied",
            "balance_adjust",
            OPERATOR_PUBKEY,
        )


class TestOnce:
    """The same envelope handled twice is applied once."""

    def test_second_handling_posts_nothing(self, account: Account) -> None:
        envelope = adjust(by_cents=500)
        handle(envelope, now=NOW)
        handle(envelope, now=NOW)
        assert (LedgerEntry.select().count(), balance()) == (1, 500)

    def test_second_handling_returns_the_stored_outcome(self, account: Account) -> None:
        envelope = adjust(by_cents=500)
        first = handle(envelope, now=NOW)
        assert handle(envelope, now=NOW) == first

    def test_second_handling_of_a_to_adjustment_posts_nothing(self, account: Account) -> None:
        envelope = adjust(to_cents=800)
        handle(envelope, now=NOW)
        handle(adjust(by_cents=100), now=NOW)
        handle(envelope, now=NOW)
        assert balance() == 900


class TestRefused:
    """Refusals carry a reason, change nothing, and leave an audit row saying "refused"."""

    def refused(self, envelope: dict[str, Any]) -> tuple[dict[str, Any], AdminAudit]:
        outcome = handle(envelope, now=NOW)
        return outcome, audit_of(envelope)

    def test_unsigned_envelope_is_refused_and_audited(self, account: Account) -> None:
        envelope = make_envelope(
            "balance_adjust",
            {"address": ADDRESS, "reason": "x", "by_cents": 100},
            signing_key=None,
            now=NOW,
        )
        outcome, row = self.refused(envelope)
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert "unsigned" in outcome["reason"]

    def test_unknown_key_is_refused_and_audited(self, account: Account) -> None:
        envelope = signed(
            "balance_adjust", {"address": ADDRESS, "reason": "x", "by_cents": 100}, key=STRANGER
        )
        outcome, row = self.refused(envelope)
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert "HERO_OPERATOR_PUBKEYS" in row.reason

    def test_tampered_args_are_refused_and_audited(self, account: Account) -> None:
        envelope = adjust(by_cents=100)
        envelope["args"]["by_cents"] = 100_000
        outcome, row = self.refused(envelope)
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert "signature" in row.reason

    def test_too_old_envelope_is_refused_and_audited(self, account: Account) -> None:
        envelope = signed(
            "balance_adjust",
            {"address": ADDRESS, "reason": "x", "by_cents": 100},
            now=NOW - MAX_ENVELOPE_AGE_S - 1,
        )
        outcome, row = self.refused(envelope)
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert "issued_at" in row.reason

    def test_refused_envelope_changes_no_balance(self, account: Account) -> None:
        envelope = adjust(by_cents=100)
        envelope["args"]["by_cents"] = 100_000
        handle(envelope, now=NOW)
        assert (LedgerEntry.select().count(), balance()) == (0, 0)

    def test_unsigned_user_add_creates_no_account(self, sqlite_db: str) -> None:
        handle(make_envelope("user_add", {"address": ADDRESS}, signing_key=None, now=NOW), now=NOW)
        assert Account.select().count() == 0

    @pytest.mark.parametrize("reason", ["", "   "])
    def test_balance_adjust_without_reason_is_refused(self, account: Account, reason: str) -> None:
        outcome, row = self.refused(adjust(by_cents=100, reason=reason))
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert row.reason.startswith("reason:")

    def test_balance_adjust_of_an_unknown_address_is_refused(self, account: Account) -> None:
        envelope = adjust(by_cents=100, address="400::1")
        outcome, row = self.refused(envelope)
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")
        assert row.reason.startswith("address:")

    def test_balance_adjust_of_an_invalid_address_is_refused(self, account: Account) -> None:
        _, row = self.refused(adjust(by_cents=100, address="2001:db8::1"))
        assert row.reason.startswith("address:")

    def test_unknown_action_is_refused(self, account: Account) -> None:
        _, row = self.refused(signed("drop_tables", {}))
        assert row.reason.startswith("action:")

    def test_balance_adjust_with_a_non_integer_amount_is_refused(self, account: Account) -> None:
        outcome, row = self.refused(adjust(to_cents="ten"))
        assert (outcome["outcome"], row.outcome) == ("refused", "refused")

    def test_envelope_without_nonce_is_refused(self, sqlite_db: str) -> None:
        envelope = adjust(by_cents=100)
        del envelope["nonce"]
        with pytest.raises(AdminRefused, match="nonce"):
            handle(envelope, now=NOW)

    def test_refusal_is_final_for_that_nonce(self, account: Account) -> None:
        envelope = adjust(by_cents=100, reason="")
        first = handle(envelope, now=NOW)
        assert handle(envelope, now=NOW) == first
        assert AdminAudit.select().where(AdminAudit.outcome == "refused").count() == 1


class TestAdjustmentBounds:
    """Every adjustment is bounded; what is outside the bounds is refused, named and audited."""

    def test_to_beyond_the_balance_bound_is_refused_naming_to_cents(self, account) -> None:
        envelope = adjust(to_cents=10**23)
        outcome = handle(envelope, now=NOW)
        assert outcome["outcome"] == "refused" and outcome["reason"].startswith("to_cents: ")
        assert audit_of(envelope).outcome == "refused"
        assert "to_cents" in audit_of(envelope).reason
        assert balance() == 0 and LedgerEntry.select().count() == 0

    def test_by_the_largest_int64_is_refused_and_the_books_stay_auditable(self, account) -> None:
        huge = adjust(by_cents=2**63 - 1)
        assert handle(huge, now=NOW)["reason"].startswith("by_cents: ")
        assert handle(adjust(by_cents=1), now=NOW)["outcome"] == "applied"
        assert balance() == 1 and audit_mismatches() == []
        assert audit_of(huge).outcome == "refused"

    def test_by_the_bound_is_applied_and_one_cent_more_is_refused(self, account) -> None:
        assert handle(adjust(by_cents=MAX_ADJUSTMENT_CENTS), now=NOW)["outcome"] == "applied"
        over = handle(adjust(by_cents=-MAX_ADJUSTMENT_CENTS - 1), now=NOW)
        assert over["outcome"] == "refused" and "by_cents" in over["reason"]
        assert balance() == MAX_ADJUSTMENT_CENTS

    def test_to_that_would_change_more_than_the_bound_is_refused(self, account) -> None:
        outcome = handle(adjust(to_cents=MAX_ADJUSTMENT_CENTS + 1), now=NOW)
        assert outcome["outcome"] == "refused"
        assert outcome["reason"].startswith("to_cents: a change of $1,000,000.01")
        assert balance() == 0

    def test_an_adjustment_past_the_balance_bound_is_refused_and_audited(self, account) -> None:
        with write_transaction():
            post(account, amount_cents=MAX_BALANCE_CENTS - 1, kind="payment", ref="seed")
        envelope = adjust(by_cents=2)
        outcome = handle(envelope, now=NOW)
        assert outcome["outcome"] == "refused" and "outside the bound" in outcome["reason"]
        assert audit_of(envelope).outcome == "refused"
        assert balance() == MAX_BALANCE_CENTS - 1 and audit_mismatches() == []

    @pytest.mark.parametrize("value", [1.5, "100", True, None])
    def test_a_to_that_is_not_whole_cents_is_refused(self, account, value: Any) -> None:
        args = {"to_cents": value} if value is not None else {}
        outcome = handle(adjust(**args), now=NOW)
        assert outcome["outcome"] == "refused"
        assert "to_cents" in outcome["reason"]
