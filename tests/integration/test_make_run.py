"""`make run` on a fresh clone serves the product on embedded defaults."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import nacl.signing
import pytest
import requests

from tests.conftest import need
from tests.support.login import login
from tests.support.procs import wait_until
from tests.support.services import free_port

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    need("a git checkout to clone", (ROOT / ".git").exists())
    target = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True)
    return target


def test_make_run_on_a_fresh_clone_serves_a_sandbox_top_up(clone: Path) -> None:
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HERO_", "VIRTUAL_ENV", "PYTHONPATH"))
    }
    env["PATH"] = os.pathsep.join(
        p
        for p in env.get("PATH", "").split(os.pathsep)
        if not p.startswith(str(Path(sys.executable).parent))
    )
    env["HERO_HTTP_ADDR"] = f"127.0.0.1:{port}"
    log = open(clone / "make-run.log", "wb")  # noqa: SIM115 - closed below
    make = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: _healthy(base, make, clone),
            timeout=600,
            interval=1,
            what="make run to serve /healthz",
        )

        # An operator adds the account, in-process against the embedded SQLite database.
        key = nacl.signing.SigningKey.generate()
        (clone / "op.key").write_text(key.encode().hex())
        admin_env = {
            **env,
            "HERO_OPERATOR_KEY": str(clone / "op.key"),
            "HERO_OPERATOR_PUBKEYS": key.verify_key.encode().hex(),
        }
        added = subprocess.run(
            [str(clone / ".venv/bin/hero-admin"), "user", "add", ADDRESS],
            cwd=clone,
            env=admin_env,
            capture_output=True,
            text=True,
        )
        assert added.returncode == 0, added.stdout + added.stderr

        # The user logs in (key proof), tops up with the sandbox provider and pays on its
        # checkout page.
        session = requests.Session()
        user = login(session, base)
        assert user.address == ADDRESS
        started = session.post(
            f"{base}/topup",
            data={"amount": "25.00", "provider": "sandbox", "csrf_token": user.csrf_token},
            allow_redirects=False,
            timeout=30,
        )
        assert started.status_code == 303, started.text
        checkout = started.headers["Location"]
        found = re.search(r"/sandbox/checkout/(\w+)$", checkout)
        assert found is not None, checkout
        topup_id = found.group(1)
        wait_until(
            lambda: "Pay $25.00" in session.get(checkout, timeout=10).text,
            timeout=30,
            what="the sandbox checkout to be ready",
        )
        paid = session.post(
            checkout, data={"csrf_token": user.csrf_token}, allow_redirects=False, timeout=30
        )
        assert paid.status_code == 303

        # The return page sees the webhook's credit.
        status = wait_until(
            lambda: _paid(session, f"{base}/topups/{topup_id}"),
            timeout=30,
            what="the top-up to be credited",
        )
        assert status["balance_cents"] == 2500
        page = session.get(f"{base}/topups/{topup_id}", timeout=10).text
        assert "Payment received" in page and "$25.00" in page
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)
        log.close()


def _healthy(base: str, make: subprocess.Popen[bytes], clone: Path) -> bool:
    if make.poll() is not None:
        raise AssertionError((clone / "make-run.log").read_text(errors="replace")[-5000:])
    try:
        return requests.get(base + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


def _paid(session: requests.Session, url: str) -> dict | None:
    state = session.get(url, headers={"Accept": "application/json"}, timeout=10).json()
    return state if state["status"] == "paid" else None
