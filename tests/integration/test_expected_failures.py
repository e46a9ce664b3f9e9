"""Expected failures through the real console scripts: each says what happened and what to
do, with a documented exit code, and never a traceback."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import nacl.public
import pytest

from tests.support.procs import BIN, hero_admin, hero_env
from tests.support.services import free_port
from tests.support.tcp_proxy import TcpProxy

ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
#: hero-admin and hero-onboarding: the database, RabbitMQ or the port cannot be used.
EXIT_UNAVAILABLE = 4


def run(tool: str, *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60):
    return subprocess.run(
        [str(BIN / tool), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def assert_told(proc: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for phrase in phrases:
        assert phrase in proc.stderr, proc.stderr


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """PostgreSQL behind a proxy that the test can cut; yields it and the URL through it."""
    parts = urlsplit(postgres_url)
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 5432)).up()
    yield proxy, postgres_url.replace(f":{parts.port or 5432}/", f":{proxy.port}/")
    proxy.down()


class TestHeroAdmin:
    """hero-admin on a database or broker it cannot use."""

    def test_a_sqlite_file_never_migrated_is_named_and_not_created(self, tmp_path: Path) -> None:
        env = hero_env(HERO_DATABASE_URL=f"sqlite:///{tmp_path}/hero.db")
        shown = hero_admin("user", "list", env=env)
        assert_told(shown, EXIT_UNAVAILABLE, "database not migrated", "run hero-onboarding migrate")
        assert list(tmp_path.iterdir()) == []

    def test_a_missing_folder_is_named_and_not_created(self, tmp_path: Path) -> None:
        env = hero_env(HERO_DATABASE_URL=f"sqlite:///{tmp_path}/nowhere/hero.db")
        shown = hero_admin("audit", env=env)
        assert_told(shown, EXIT_UNAVAILABLE, "folder of the SQLite database does not exist")
        assert not (tmp_path / "nowhere").exists()

    def test_an_empty_postgresql_database_is_not_migrated(self, postgres_url: str) -> None:
        parts = urlsplit(postgres_url)
        empty = f"hero_empty_{free_port()}"
        subprocess.run(
            ["psql", "-h", parts.hostname or "127.0.0.1", "-U", parts.username or "postgres",
             "-c", f"CREATE DATABASE {empty}"],
            check=True, capture_output=True,
        )  # fmt: skip
        try:
            url = postgres_url.rsplit("/", 1)[0] + f"/{empty}"
            shown = hero_admin("user", "list", env=hero_env(HERO_DATABASE_URL=url))
            assert_told(shown, EXIT_UNAVAILABLE, "database not migrated")
        finally:
            subprocess.run(
                ["psql", "-h", parts.hostname or "127.0.0.1", "-U", parts.username or "postgres",
                 "-c", f"DROP DATABASE {empty}"],
                check=False, capture_output=True,
            )  # fmt: skip

    def test_postgresql_down_is_named(self, pg_db: str, pg_proxy: tuple[TcpProxy, str]) -> None:
        proxy, url = pg_proxy
        env = hero_env(HERO_DATABASE_URL=url)
        assert hero_admin("user", "list", env=env).returncode == 0
        proxy.down()
        shown = hero_admin("user", "list", env=env)
        assert_told(shown, EXIT_UNAVAILABLE, f"PostgreSQL at 127.0.0.1:{proxy.port}", "running")

    def test_rabbitmq_down_is_named_for_a_change(self, sqlite_db: str) -> None:
        port = free_port()
        env = hero_env(
            HERO_DATABASE_URL=sqlite_db, HERO_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{port}/"
        )
        added = hero_admin("user", "add", ADDRESS, env=env)
        assert_told(added, EXIT_UNAVAILABLE, f"RabbitMQ at 127.0.0.1:{port} does not answer")

    def test_a_missing_vhost_is_named(self, sqlite_db: str) -> None:
        env = hero_env(
            HERO_DATABASE_URL=sqlite_db,
            HERO_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/hero_no_such_vhost",
        )
        added = hero_admin("user", "add", ADDRESS, env=env)
        assert_told(added, EXIT_UNAVAILABLE, "virtual host 'hero_no_such_vhost'", "add_vhost")


class TestHeroOnboarding:
    """The roles on a port, database or vhost they cannot use."""

    def test_up_on_a_busy_port_says_so_and_how_to_choose_another(self, tmp_path: Path) -> None:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            up = run(
                "hero-onboarding",
                "up",
                "--demo",
                env=hero_env(HERO_HTTP_ADDR=f"127.0.0.1:{port}"),
                cwd=tmp_path,
            )
        assert_told(
            up,
            EXIT_UNAVAILABLE,
            f"127.0.0.1:{port} is already in use",
            f"HERO_HTTP_ADDR=127.0.0.1:{port + 1}",
        )

    def test_a_worker_on_a_missing_vhost_says_so(self, sqlite_db: str) -> None:
        env = hero_env(
            HERO_DATABASE_URL=sqlite_db,
            HERO_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/hero_no_such_vhost",
        )
        worker = run("hero-onboarding", "worker", env=env)
        assert_told(worker, EXIT_UNAVAILABLE, "virtual host 'hero_no_such_vhost'")

    def test_a_worker_without_rabbitmq_exits_for_its_supervisor(self, sqlite_db: str) -> None:
        port = free_port()
        env = hero_env(
            HERO_DATABASE_URL=sqlite_db, HERO_AMQP_URL=f"amqp://guest:guest@127.0.0.1:{port}/"
        )
        worker = run("hero-onboarding", "worker", env=env)
        assert_told(worker, EXIT_UNAVAILABLE, f"RabbitMQ at 127.0.0.1:{port} does not answer")

    def test_a_gateway_on_a_database_never_migrated_says_so(
        self, tmp_path: Path, amqp_url: str
    ) -> None:
        env = hero_env(HERO_DATABASE_URL=f"sqlite:///{tmp_path}/hero.db", HERO_AMQP_URL=amqp_url)
        gateway = run("hero-onboarding", "gateway", env=env)
        assert_told(gateway, EXIT_UNAVAILABLE, "database not migrated")
        assert not (tmp_path / "hero.db").exists()


class TestHeroLogin:
    """hero-login prove against a gateway it cannot reach."""

    @pytest.fixture
    def key(self, tmp_path: Path) -> str:
        path = tmp_path / "priv_key.bin"
        path.write_bytes(bytes(nacl.public.PrivateKey.generate()))
        return str(path)

    def test_a_url_without_scheme_is_refused_naming_the_option(self, key: str) -> None:
        proved = run("hero-login", "prove", "abc123", "--key", key, "--url", "127.0.0.1:8080",
                     env=hero_env())  # fmt: skip
        assert_told(proved, 2, "argument --url: ", "like http://127.0.0.1:8080")

    def test_a_refused_connection_says_the_gateway_does_not_answer(self, key: str) -> None:
        url = f"http://127.0.0.1:{free_port()}"
        proved = run("hero-login", "prove", "abc123", "--key", key, "--url", url, env=hero_env())
        assert_told(proved, 3, f"{url} does not answer", "--url")
