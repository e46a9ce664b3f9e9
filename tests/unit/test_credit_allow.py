"""Credit allowances through the signed admin actor: bounded, with a reason, audited, and
the state computed again (a suspended account lifted above its new limit is resumed)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors import admin, credit, suspension
from actors.credit_allow import allowance_cents
from actors.ledger import post
from models import Account, AdminAudit, Notification, write_transaction
from models.credit import CreditState
from models.errors import AdminRefused
from models.money import MAX_ALLOWANCE_CENTS
from tests.support.deps import DepsSwitch
from wire.times import utcnow

OPERATOR = nacl.signing.SigningKey(bytes(range(32)))
ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def account(sqlite_db: str, deps: DepsSwitch) -> Iterator[Account]:
    deps.set(operator_pubkeys=(OPERATOR.verify_key.encode().hex(),))
    account = Account.create(address=ADDRESS)
    with write_transaction():
        post(account, amount_cents=-50, kind="adjustment", ref="use")
    yield account


def allow(**args: Any) -> dict[str, Any]:
    envelope = admin.make_envelope(
        "credit_allow", {"address": ADDRESS, "reason": "trusted", **args}, signing_key=OPERATOR
    )
    return admin.handle(envelope, now=time.time())


def test_an_allowance_turns_exhausted_into_low_with_a_new_sequence(account: Account) -> None:
    seq = CreditState.get().seq
    outcome = allow(cents=100)
    assert outcome["outcome"] == "applied"
    assert {
        k: outcome[k] for k in ("allowance_cents", "previous_cents", "limit_cents", "state")
    } == {
        "allowance_cents": 100,
        "previous_cents": 0,
        "limit_cents": -100,
        "state": "low",
    }
    row = CreditState.get()
    assert (row.allowance_cents, row.state, row.seq, row.pending) == (100, "low", seq + 1, True)
    audit = AdminAudit.get()
    assert (audit.action, audit.outcome) == ("credit_allow", "applied")
    assert audit.operator_pubkey == OPERATOR.verify_key.encode().hex()
    # and 0 takes it away again
    assert allow(cents=0)["state"] == "exhausted"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ({"cents": -1}, "cents: -1 is below zero"),
        ({"cents": MAX_ALLOWANCE_CENTS + 1}, "cents:"),
        ({"cents": "100"}, "cents: must be a whole number"),
        ({"cents": 1.5}, "cents: must be a whole number"),
        ({"cents": None}, "cents:"),
        ({"cents": 100, "reason": "  "}, "reason:"),
        ({"cents": 100, "address": "not an address"}, "address:"),
        ({"cents": 100, "address": "4ff:2b7c:1c4d:5a2e:aa01:9b3f:2c11:7d80"}, "no account"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field_and_audited(
    account: Account, args: dict[str, Any], named: str
) -> None:
    outcome = allow(**args)
    assert outcome["outcome"] == "refused" and named in outcome["reason"]
    assert AdminAudit.get().outcome == "refused"
    assert CreditState.get().allowance_cents == 0


def test_an_unsigned_allowance_is_refused(account: Account) -> None:
    envelope = admin.make_envelope(
        "credit_allow", {"address": ADDRESS, "cents": 100, "reason": "x"}, signing_key=None
    )
    assert admin.handle(envelope)["outcome"] == "refused"
    assert CreditState.get().allowance_cents == 0


def test_an_allowance_above_the_balance_resumes_a_suspended_account(
    account: Account, deps: DepsSwitch
) -> None:
    deps.set(credit_policy=credit.CreditPolicy(suspend_after_s=60))
    CreditState.update(exhausted_since=utcnow() - dt.timedelta(seconds=61)).execute()
    assert suspension.run(utcnow())["suspended"] == 1
    assert allow(cents=1000)["state"] == "low"
    assert CreditState.get().suspended_at is None
    assert Notification.select().where(Notification.kind == "credit_resumed").count() == 1


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.integers(), st.floats(), st.text(), st.none(), st.booleans()))
def test_allowance_cents_accepts_only_bounded_whole_cents(value: object) -> None:
    try:
        cents = allowance_cents(value)
    except AdminRefused as exc:
        assert str(exc).startswith("cents:")
    else:
        assert isinstance(cents, int) and 0 <= cents <= MAX_ALLOWANCE_CENTS
        assert not isinstance(value, bool)
