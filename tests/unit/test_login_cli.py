"""``hero-login`` keygen and address, and Mycelium-style key files."""

from __future__ import annotations

import stat
from pathlib import Path

import nacl.public
import pytest

from cli.login import EXIT_OK, EXIT_USAGE, main
from tests.support.login import ALICE_ADDRESS, ALICE_KEY
from wire.address import derive_address
from wire.keys import KeyFileError, read_key_file, write_key_file


def test_keygen_writes_32_raw_bytes(tmp_path: Path) -> None:
    assert main(["keygen", "--out", str(tmp_path / "priv_key.bin")]) == EXIT_OK
    assert len((tmp_path / "priv_key.bin").read_bytes()) == 32


def test_keygen_writes_the_file_mode_0600(tmp_path: Path) -> None:
    main(["keygen", "--out", str(tmp_path / "priv_key.bin")])
    assert stat.S_IMODE((tmp_path / "priv_key.bin").stat().st_mode) == 0o600


def test_keygen_prints_the_keys_address_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["keygen", "--out", str(tmp_path / "priv_key.bin")])
    key = nacl.public.PrivateKey((tmp_path / "priv_key.bin").read_bytes())
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == str(derive_address(bytes(key.public_key)))


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    (tmp_path / "priv_key.bin").write_bytes(b"k" * 32)
    assert main(["keygen", "--out", str(tmp_path / "priv_key.bin")]) == EXIT_USAGE
    assert (tmp_path / "priv_key.bin").read_bytes() == b"k" * 32


def test_address_of_a_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "alice.bin").write_bytes(bytes(ALICE_KEY))
    assert main(["address", "--key", str(tmp_path / "alice.bin")]) == EXIT_OK
    assert capsys.readouterr().out.strip() == ALICE_ADDRESS


def test_address_of_a_public_key(capsys: pytest.CaptureFixture[str]) -> None:
    main(["address", "--pubkey", bytes(ALICE_KEY.public_key).hex().upper()])
    assert capsys.readouterr().out.strip() == ALICE_ADDRESS


def test_address_of_a_bad_public_key_is_a_usage_error() -> None:
    assert main(["address", "--pubkey", "abc"]) == EXIT_USAGE


def test_a_key_file_of_the_wrong_size_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "short.bin").write_bytes(b"x" * 31)
    assert main(["address", "--key", str(tmp_path / "short.bin")]) == EXIT_USAGE
    assert "32 raw bytes" in capsys.readouterr().err


def test_a_missing_key_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="nope.bin"):
        read_key_file(tmp_path / "nope.bin")


def test_a_key_file_round_trips(tmp_path: Path) -> None:
    write_key_file(tmp_path / "k.bin", bytes(ALICE_KEY))
    assert read_key_file(tmp_path / "k.bin") == bytes(ALICE_KEY)
