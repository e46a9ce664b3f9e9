"""Liveness, readiness and metrics."""

from __future__ import annotations

import hmac
from collections.abc import Callable

import falcon
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest


class Health:
    """``/healthz``: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class Ready:
    """``/readyz``: the database and the broker answer."""

    def __init__(self, *, checks: dict[str, Callable[[], None]]) -> None:
        self._checks = checks

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        results = {}
        for name, check in self._checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                results[name] = f"down: {exc!r}"[:300]
        ready = all(v == "ok" for v in results.values())
        resp.status = falcon.HTTP_200 if ready else falcon.HTTP_503
        resp.media = {"status": "ready" if ready else "not ready", "checks": results}


class Metrics:
    """``/metrics``: Prometheus text format, for the scraper only.

    With a *token*, only ``Authorization: Bearer <token>`` is answered (401 otherwise).
    Without one it is open in development and absent (404) in production.
    """

    def __init__(self, *, token: str | None = None, public: bool = True) -> None:
        self._token = token
        self._public = public

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._token is None and not self._public:
            raise falcon.HTTPNotFound()
        if self._token is not None:
            scheme, _, given = (req.get_header("Authorization") or "").partition(" ")
            expected = self._token.encode()
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), expected
            ):
                raise falcon.HTTPUnauthorized(
                    title="Metrics need a token",
                    description="send Authorization: Bearer <HERO_METRICS_TOKEN>",
                    challenges=['Bearer realm="metrics"'],
                )
        resp.content_type = CONTENT_TYPE_LATEST
        resp.data = generate_latest()
