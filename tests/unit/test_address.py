"""Mycelium addresses: derivation from X25519 keys, canonical text, validation, comparison."""

from __future__ import annotations

import ipaddress

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.public import PrivateKey

from models.errors import InvalidAddress
from wire.address import (
    MYCELIUM_NETWORK,
    canonical_address,
    derive_address,
    parse_address,
    same_address,
)

# RFC 7748 section 6.1 test keys.
ALICE_PRIVATE = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
ALICE_PUBLIC = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
BOB_PRIVATE = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
BOB_PUBLIC = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")

# Computed once with expected_address() below and pinned here.
ALICE_ADDRESS = "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"
BOB_ADDRESS = "52d:dc0:ab0c:851a:6e34:e79d:1f3f:15d3"
#: A key whose digest's byte 0 (0x95) has an even number of 1-bits, so byte 0 becomes 0x04.
EVEN_KEY = b"\x01" * 32
EVEN_ADDRESS = "415:490:71ed:9131:49a8:d3b:b789:1fcd"


def expected_address(public_key: bytes) -> str:
    """The address by the algorithm of DESIGN.md section 5, written out independently."""
    digest = bytearray(blake3.blake3(public_key).digest()[:16])
    digest[0] = 0x05 if bin(digest[0]).count("1") % 2 else 0x04
    return str(ipaddress.IPv6Address(bytes(digest)))


class TestRfc7748Keys:
    """PyNaCl derives the RFC 7748 public keys, and those keys give the pinned addresses."""

    def test_pynacl_derives_alices_public_key(self) -> None:
        assert bytes(PrivateKey(ALICE_PRIVATE).public_key) == ALICE_PUBLIC

    def test_pynacl_derives_bobs_public_key(self) -> None:
        assert bytes(PrivateKey(BOB_PRIVATE).public_key) == BOB_PUBLIC

    def test_pinned_vectors_follow_the_algorithm(self) -> None:
        assert [expected_address(k) for k in (ALICE_PUBLIC, BOB_PUBLIC, EVEN_KEY)] == [
            ALICE_ADDRESS,
            BOB_ADDRESS,
            EVEN_ADDRESS,
        ]

    def test_alices_address_is_derived(self) -> None:
        assert str(derive_address(ALICE_PUBLIC)) == ALICE_ADDRESS

    def test_bobs_address_is_derived(self) -> None:
        assert str(derive_address(BOB_PUBLIC)) == BOB_ADDRESS

    def test_even_parity_byte_gives_a_04_prefix(self) -> None:
        assert str(derive_address(EVEN_KEY)) == EVEN_ADDRESS
        assert derive_address(EVEN_KEY).packed[0] == 0x04

    def test_odd_parity_byte_gives_a_05_prefix(self) -> None:
        assert derive_address(ALICE_PUBLIC).packed[0] == 0x05


@pytest.mark.parametrize("length", [0, 16, 31, 33, 64])
def test_derive_address_refuses_a_key_that_is_not_32_bytes(length: int) -> None:
    with pytest.raises(InvalidAddress, match="32 bytes"):
        derive_address(b"\x01" * length)


@given(st.binary(min_size=32, max_size=32))
def test_derived_address_is_in_400_7_and_round_trips(public_key: bytes) -> None:
    address = derive_address(public_key)
    assert address in MYCELIUM_NETWORK
    assert canonical_address(str(address)) == str(address)
    assert canonical_address(address.exploded) == str(address)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("0520:C662:fd00:9e92:5d99:34ed:0ab8:82ab", "520:c662:fd00:9e92:5d99:34ed:ab8:82ab"),
        ("0400:0000:0000:0000:0000:0000:0000:0001", "400::1"),
        ("500:0:0:1:0:0:0:1", "500:0:0:1::1"),
        ("500:0:0:1:0:0:1:1", "500::1:0:0:1:1"),
        ("500:0:0:1:1:0:0:0", "500:0:0:1:1::"),
        ("  5ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ", "5ff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
)
def test_canonical_address_is_rfc_5952_text(text: str, canonical: str) -> None:
    assert canonical_address(text) == canonical


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("hello", "not an IPv6 address"),
        ("520::g", "not an IPv6 address"),
        ("520:::1", "not an IPv6 address"),
        ("192.0.2.1", "IPv4"),
        ("::ffff:192.0.2.1", "outside 400::/7"),
        ("2001:db8::1", "outside 400::/7"),
        ("600::1", "outside 400::/7"),
        ("3ff:ffff::1", "outside 400::/7"),
        ("::1", "outside 400::/7"),
    ],
)
def test_parse_address_refuses_what_is_not_a_mycelium_address(text: str, problem: str) -> None:
    with pytest.raises(InvalidAddress, match=problem):
        parse_address(text)


def test_canonical_address_refuses_a_zone_index() -> None:
    with pytest.raises(InvalidAddress):
        canonical_address("520::1%eth0")


def test_same_address_ignores_spelling() -> None:
    assert same_address("0520:C662:FD00:9E92:5D99:34ED:0AB8:82AB", ALICE_ADDRESS)


def test_same_address_compares_the_last_bit() -> None:
    assert not same_address("520:c662:fd00:9e92::1", "520:c662:fd00:9e92::")


def test_same_address_compares_the_interface_half() -> None:
    assert not same_address(
        "520:c662:fd00:9e92:5d99:34ed:ab8:82ab", "520:c662:fd00:9e92:5d99:34ed:ab8:82aa"
    )


def test_same_address_refuses_an_invalid_address() -> None:
    with pytest.raises(InvalidAddress):
        same_address(ALICE_ADDRESS, "2001:db8::1")
