"""Mycelium addresses: derivation from an X25519 public key, canonical form, validation."""

from __future__ import annotations

import functools
import ipaddress

import blake3

from wire.errors import InvalidAddress

#: The network every Mycelium address lies in.
MYCELIUM_NETWORK = ipaddress.IPv6Network("400::/7")


def derive_address(public_key: bytes) -> ipaddress.IPv6Address:
    """The Mycelium address of an X25519 public key.

    First 16 bytes of blake3(public_key); byte 0 becomes 0x04, or 0x05 when the
    original byte 0 has an odd number of 1-bits.

    Raises:
        InvalidAddress: the key is not 32 bytes.
    """
    if len(public_key) != 32:
        raise InvalidAddress(f"a public key is 32 bytes, not {len(public_key)}")
    digest = bytearray(blake3.blake3(public_key).digest(length=16))
    digest[0] = 0x04 | (bin(digest[0]).count("1") & 1)
    return ipaddress.IPv6Address(bytes(digest))


def parse_address(text: str) -> ipaddress.IPv6Address:
    """Parse *text* as a Mycelium address (an IPv6 address inside ``400::/7``).

    >>> str(parse_address("0520:C662:fd00:9e92:5d99:34ed:0ab8:82ab"))
    '520:c662:fd00:9e92:5d99:34ed:ab8:82ab'

    Raises:
        InvalidAddress: naming what is wrong with it.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidAddress("address is empty")
    if "%" in text:
        raise InvalidAddress(f"{text!r} has a zone index (%...); give the address alone")
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise InvalidAddress(f"{text!r} is not an IPv6 address") from None
    if not isinstance(addr, ipaddress.IPv6Address):
        raise InvalidAddress(f"{text!r} is an IPv4 address; Mycelium addresses are IPv6")
    if addr.ipv4_mapped is not None or addr not in MYCELIUM_NETWORK:
        raise InvalidAddress(f"{text!r} is outside 400::/7, so it is not a Mycelium address")
    return addr


def canonical_address(text: str) -> str:
    """The RFC 5952 text of a Mycelium address; equal texts mean equal 128 bits.

    Raises:
        InvalidAddress: naming what is wrong with it.
    """
    if not isinstance(text, str):
        raise InvalidAddress(f"an address is text, not {type(text).__name__}")
    return _canonical(text)


@functools.lru_cache(maxsize=65_536)
def _canonical(text: str) -> str:
    # Cached: a usage batch names the same few users again and again.
    return str(parse_address(text))


def same_address(a: str, b: str) -> bool:
    """Whether two address texts name the same 128 bits."""
    return parse_address(a).packed == parse_address(b).packed
