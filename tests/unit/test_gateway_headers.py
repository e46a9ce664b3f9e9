"""Headers of every answer (cache, HSTS, request id) and who may read ``/metrics``."""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from gateway.auth.sessions import SESSION_COOKIE, start_session
from models import Account, Billing
from tests.support.web import make_app
from wire.times import utcnow

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
TOKEN = "metrics-token-for-tests"
HTML = {"Accept": "text/html"}


def client_for(*, production: bool = False, metrics_token: str | None = None) -> Any:
    app = make_app(
        providers={},
        public_url="https://hero.test",
        production=production,
        metrics_token=metrics_token,
    )
    return falcon.testing.TestClient(app)


@pytest.fixture
def cookies(sqlite_db: str) -> dict[str, str]:
    Billing.create(account=Account.create(address=ADDRESS), balance_cents=2500)
    token, _ = start_session(ADDRESS, ttl_s=3600, now=utcnow())
    return {SESSION_COOKIE: token}


@pytest.mark.parametrize("path", ["/", "/payments", "/plans", "/topup", "/auth/session"])
def test_pages_with_account_data_are_never_stored(cookies: dict[str, str], path: str) -> None:
    page = client_for().simulate_get(path, cookies=cookies, headers=HTML)
    assert page.status_code == 200, page.text
    assert page.headers["Cache-Control"] == "no-store"


def test_the_login_page_with_its_csrf_token_is_not_stored(sqlite_db: str) -> None:
    assert client_for().simulate_get("/login").headers["Cache-Control"] == "no-store"


def test_after_logout_the_dashboard_is_a_redirect_not_stored(cookies: dict[str, str]) -> None:
    page = client_for().simulate_get("/", headers=HTML)
    assert page.status_code == 303 and page.headers["Cache-Control"] == "no-store"


def test_static_files_may_be_cached(sqlite_db: str) -> None:
    answer = client_for().simulate_get("/static/style.css")
    assert answer.status_code == 200 and "no-store" not in answer.headers.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/static/refresh.js", "text/javascript; charset=utf-8"),
        ("/static/login.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml; charset=utf-8"),
    ],
)
def test_static_text_files_say_their_charset(sqlite_db: str, path: str, media_type: str) -> None:
    answer = client_for().simulate_get(path)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == media_type
    answer.content.decode("utf-8")  # and they are UTF-8 indeed


def test_production_sends_hsts(sqlite_db: str) -> None:
    answer = client_for(production=True).simulate_get("/healthz")
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_development_sends_no_hsts(sqlite_db: str) -> None:
    assert "Strict-Transport-Security" not in client_for().simulate_get("/healthz").headers


@pytest.mark.parametrize("given", ["abc\x00def", "x" * 65, "a b", "<script>", "é"])
def test_an_odd_request_id_is_replaced(sqlite_db: str, given: str) -> None:
    answer = client_for().simulate_get("/healthz", headers={"X-Request-Id": given})
    echoed = answer.headers["X-Request-Id"]
    assert echoed != given and len(echoed) == 32


def test_a_plain_request_id_is_kept(sqlite_db: str) -> None:
    answer = client_for().simulate_get("/healthz", headers={"X-Request-Id": "edge-1234.5"})
    assert answer.headers["X-Request-Id"] == "edge-1234.5"


class TestMetrics:
    """Open in development; in production only with ``HERO_METRICS_TOKEN``'s bearer."""

    def test_development_serves_metrics(self, sqlite_db: str) -> None:
        answer = client_for().simulate_get("/metrics")
        assert answer.status_code == 200 and "hero_webhooks_total" in answer.text

    def test_production_without_a_token_has_no_metrics(self, sqlite_db: str) -> None:
        assert client_for(production=True).simulate_get("/metrics").status_code == 404

    @pytest.mark.parametrize(
        "authorization", [None, "", "Bearer", "Bearer wrong", f"Basic {TOKEN}", f"{TOKEN}"]
    )
    def test_a_missing_or_wrong_token_is_refused(
        self, sqlite_db: str, authorization: str | None
    ) -> None:
        client = client_for(production=True, metrics_token=TOKEN)
        headers = {"Authorization": authorization} if authorization is not None else {}
        answer = client.simulate_get("/metrics", headers=headers)
        assert answer.status_code == 401 and "hero_" not in answer.text
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="metrics"'

    def test_the_right_token_reads_metrics(self, sqlite_db: str) -> None:
        client = client_for(production=True, metrics_token=TOKEN)
        answer = client.simulate_get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.status_code == 200 and "hero_webhooks_total" in answer.text

    def test_a_token_is_asked_for_in_development_too(self, sqlite_db: str) -> None:
        assert client_for(metrics_token=TOKEN).simulate_get("/metrics").status_code == 401
