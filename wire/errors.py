"""The errors the wire rules raise; the root of every domain error of the product."""

from __future__ import annotations


class HeroError(Exception):
    """Base of every domain error."""


class InvalidAddress(HeroError):
    """The text is not a Mycelium address."""
