"""The contract between declared messages and the actors that receive them.

``contract_problems`` compares a message class with its actor's function (names,
required or optional, annotations); ``check_message`` checks one message as a sender
hands it over. The test fakes of ``send`` call ``check_message``, so a field renamed on
one side only fails the unit tests instead of dead-lettering in the worker.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

import dramatiq

import messages
from messages import MESSAGES, Message


@cache
def actor_functions() -> dict[str, Callable[..., Any]]:
    """Every actor of the product's actor modules: its function by actor name."""
    import actors

    found: dict[str, Callable[..., Any]] = {}
    for name in actors.ACTOR_MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if isinstance(value, dramatiq.Actor) and value.fn.__module__ == name:
                found[value.actor_name] = value.fn
    return found


def contract_problems(message: type[Message], fn: Callable[..., Any]) -> list[str]:
    """What differs between *message*'s fields and *fn*'s parameters (empty when none)."""
    problems: list[str] = []
    params = inspect.signature(fn).parameters
    fields = {f.name: f for f in dataclasses.fields(message)}
    hints = typing.get_type_hints(message)
    fn_hints = typing.get_type_hints(fn)
    where = f"{message.__name__} -> {message.actor}"
    for name in params.keys() - fields.keys():
        problems.append(f"{where}: parameter {name!r} has no field")
    for name in fields.keys() - params.keys():
        problems.append(f"{where}: field {name!r} is no parameter")
    for name in params.keys() & fields.keys():
        param, field = params[name], fields[name]
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            problems.append(f"{where}: parameter {name!r} cannot be passed by keyword")
        param_required = param.default is inspect.Parameter.empty
        field_required = (
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        )
        if param_required != field_required:
            problems.append(
                f"{where}: {name!r} is {'required' if param_required else 'optional'} for the "
                f"actor, {'required' if field_required else 'optional'} in the message"
            )
        elif not param_required and field.default != param.default:
            problems.append(f"{where}: {name!r} defaults differ")
        if hints.get(name) != fn_hints.get(name):
            problems.append(
                f"{where}: {name!r} is {fn_hints.get(name)} for the actor, "
                f"{hints.get(name)} in the message"
            )
    return sorted(problems)


def fits(value: object, hint: object) -> bool:
    """Whether *value* is a JSON value of type *hint* (str, int, bool, None, list, dict)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _is_json(value)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arm) for arm in typing.get_args(hint))
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (str, bool):
        return isinstance(value, hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            fits(k, key) and fits(v, item) for k, v in value.items()
        )
    return False


def _is_json(value: object) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def check_message(message: object) -> Message:
    """*message* when it is a declared message its actor accepts, field types included.

    Raises:
        AssertionError: naming the message and the field at fault.
    """
    assert isinstance(message, Message), f"send: not a message: {message!r}"
    cls = type(message)
    assert MESSAGES.get(cls.actor) is cls, f"send: {cls.__name__} is not declared in messages"
    fn = actor_functions().get(cls.actor)
    assert fn is not None, f"send: no actor {cls.actor!r} for {cls.__name__}"
    problems = contract_problems(cls, fn)
    assert not problems, "; ".join(problems)
    hints = typing.get_type_hints(cls)
    for name, value in message.kwargs.items():
        assert fits(value, hints[name]), f"{cls.__name__}.{name}: {value!r} is not {hints[name]}"
    return message


class Sent:
    """``send`` that checks and records messages; ``down`` makes it fail like a lost broker."""

    def __init__(self, *, fail_calls: int = 0) -> None:
        self.messages: list[Message] = []
        self.down = False
        self._fail_calls = fail_calls

    def __call__(self, message: Message) -> None:
        from models.errors import BrokerUnavailable

        check_message(message)
        if self.down:
            raise BrokerUnavailable(f"message to {message.actor} not confirmed")
        self.messages.append(message)
        if self._fail_calls > 0:
            self._fail_calls -= 1
            raise ConnectionError("broker down")

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """The messages as (actor name, keyword arguments), in the order sent."""
        return [(m.actor, m.kwargs) for m in self.messages]


__all__ = ["Sent", "actor_functions", "check_message", "contract_problems", "fits", "messages"]
