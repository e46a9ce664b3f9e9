"""A stand-in for the gateway's outbound HTTP POST, recording what it was asked."""

from __future__ import annotations

from typing import Any


class FakePost:
    """Stands in for requests.post in the sandbox provider; records what it was given."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"url": url, **kwargs})
        return FakeResponse()


class FakeResponse:
    status_code = 200
    text = '{"received": true}'
