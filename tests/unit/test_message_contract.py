"""Every declared message matches its actor, every actor has a message, names stay put."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, ClassVar

import pytest

import messages
from messages import MESSAGES, ApplyPayment, Message
from tests.support.message_contract import Sent, actor_functions, check_message, contract_problems

ROOT = Path(__file__).resolve().parents[2]
#: The product's packages: where no actor is named by a string.
PRODUCT = ("actors", "adapters", "cli", "gateway", "models", "node_agent", "wire")
#: A string actor name, or a hand-made send, outside the message package.
STRING_SEND = re.compile(r"""\bsend\(\s*["']|get_actor\(\s*["']|\.send_with_options\(""")


def test_every_actor_has_a_declared_message() -> None:
    assert sorted(actor_functions()) == sorted(MESSAGES)


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_each_message_matches_its_actors_signature(name: str) -> None:
    assert contract_problems(MESSAGES[name], actor_functions()[name]) == []


def _renamed(field: str, to: str) -> type[Message]:
    """A copy of ``ApplyPayment`` with *field* renamed, the actor left as it is."""
    fields = [
        (to if f.name == field else f.name, f.type, f) for f in dataclasses.fields(ApplyPayment)
    ]
    spec = [
        (n, t, dataclasses.field(default=f.default))
        if f.default is not dataclasses.MISSING
        else (n, t)
        for n, t, f in fields
    ]
    return dataclasses.make_dataclass(
        "ApplyPayment",
        spec,
        bases=(Message,),
        frozen=True,
        namespace={"actor": "apply_payment", "__annotations__": {"actor": ClassVar[str]}},
    )


def test_a_field_renamed_on_the_message_side_only_is_reported() -> None:
    renamed = _renamed("amount_cents", "amount")
    renamed.__module__ = messages.__name__
    problems = contract_problems(renamed, actor_functions()["apply_payment"])
    assert "ApplyPayment -> apply_payment: field 'amount' is no parameter" in problems
    assert "ApplyPayment -> apply_payment: parameter 'amount_cents' has no field" in problems


def test_a_parameter_renamed_on_the_actor_side_only_is_reported() -> None:
    def apply_payment(  # the actor as it would read after a one-sided rename
        provider: str,
        payment_key: str,
        address: str | None,
        cents: int,
        currency: str,
        paid_at: int,
        topup_id: str | None = None,
        event_id: str | None = None,
    ) -> str:
        return ""

    problems = contract_problems(ApplyPayment, apply_payment)
    assert "ApplyPayment -> apply_payment: parameter 'cents' has no field" in problems
    assert "ApplyPayment -> apply_payment: field 'amount_cents' is no parameter" in problems


def test_a_changed_type_or_default_is_reported() -> None:
    def apply_payment(
        provider: str,
        payment_key: str,
        address: str,
        amount_cents: int,
        currency: str,
        paid_at: int,
        topup_id: str | None,
        event_id: str | None = "x",
    ) -> str:
        return ""

    assert contract_problems(ApplyPayment, apply_payment) == [
        "ApplyPayment -> apply_payment: 'address' is <class 'str'> for the actor, "
        "str | None in the message",
        "ApplyPayment -> apply_payment: 'event_id' defaults differ",
        "ApplyPayment -> apply_payment: 'topup_id' is required for the actor, "
        "optional in the message",
    ]


PAYMENT: dict[str, Any] = {
    "provider": "stripe",
    "payment_key": "pi_1",
    "address": None,
    "amount_cents": 500,
    "currency": "usd",
    "paid_at": 1_700_000_000,
}


def test_the_fake_send_refuses_a_renamed_field() -> None:
    sent = Sent()
    sent(ApplyPayment(**PAYMENT))
    renamed = _renamed("amount_cents", "amount")
    with pytest.raises(AssertionError, match="not declared in messages"):
        sent(renamed(**{("amount" if k == "amount_cents" else k): v for k, v in PAYMENT.items()}))
    assert sent.calls == [("apply_payment", {**PAYMENT, "topup_id": None, "event_id": None})]


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount_cents", "500"), ("amount_cents", True), ("address", 7), ("paid_at", 1.5)],
)
def test_the_fake_send_refuses_a_value_of_the_wrong_type(field: str, value: object) -> None:
    with pytest.raises(AssertionError, match=f"ApplyPayment.{field}"):
        check_message(ApplyPayment(**{**PAYMENT, field: value}))


def test_the_fake_send_refuses_a_string_and_kwargs() -> None:
    with pytest.raises(TypeError):
        Sent()("apply_payment", **PAYMENT)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="not a message"):
        Sent()("apply_payment")  # type: ignore[arg-type]


def test_the_real_send_refuses_what_is_not_a_message() -> None:
    class Broker:
        def get_actor(self, name: str) -> Any:
            raise AssertionError("never reached")

    with pytest.raises(TypeError, match="message: not a declared message"):
        messages.deliver(Broker(), "apply_payment")  # type: ignore[arg-type]


def test_no_actor_is_named_by_a_string_outside_the_message_package() -> None:
    found = []
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() == "actors/__init__.py":
                continue  # the broker's own plumbing: names come from a Message
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if STRING_SEND.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
