"""``hero-login``: Mycelium-style keys, their addresses, and the key proof of a login.

``prove`` takes the one-time code shown on the login page (or the challenge id, which
starts with ``ch_``): the gateway finds the challenge by either. It fetches the service
key from ``GET /auth/service`` (or takes ``--service-pubkey``), seals the code in a NaCl
box from your key to the service key, and posts it to
``/auth/challenges/<code>/proof``. Your browser then logs in by itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import nacl.public
import requests

from wire.address import derive_address
from wire.keys import KeyFileError, make_key_proof, parse_public_key, read_key_file, write_key_file

#: Done as asked.
EXIT_OK = 0
#: The gateway refused the proof (wrong key, expired or used code, too many attempts).
EXIT_REFUSED = 1
#: Bad usage, or a key file that cannot be used.
EXIT_USAGE = 2
#: The gateway could not be reached or answered something unexpected.
EXIT_UNREACHABLE = 3

#: Where ``prove`` posts when no ``--url`` is given (``make run``'s gateway).
DEFAULT_URL = "http://127.0.0.1:8080"


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hero-login", description="Prove a Mycelium address to a Hero gateway."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    keygen = sub.add_parser("keygen", help="make an X25519 key file (32 raw bytes, mode 0600)")
    keygen.add_argument("--out", required=True, help="file to write; never overwritten")

    address = sub.add_parser("address", help="print the Mycelium address of a key")
    which = address.add_mutually_exclusive_group(required=True)
    which.add_argument("--key", help="private key file (Mycelium's priv_key.bin)")
    which.add_argument("--pubkey", help="public key, 64 hex characters")

    prove = sub.add_parser("prove", help="answer a login with the key proof")
    prove.add_argument("code", help="the code on the login page (or the challenge id, ch_...)")
    prove.add_argument("--key", required=True, help="private key file (Mycelium's priv_key.bin)")
    prove.add_argument(
        "--url", type=gateway_url, default=DEFAULT_URL, help=f"the gateway (default {DEFAULT_URL})"
    )
    prove.add_argument("--service-pubkey", help="the service key shown on the login page")
    return parser


def gateway_url(text: str) -> str:
    """An argparse type: the gateway's http(s) URL, scheme and host included."""
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL with a host; "
            f"write it in full, like {DEFAULT_URL}"
        )
    return text.strip()


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        if args.command == "keygen":
            return _keygen(args.out)
        if args.command == "address":
            return _address(key_path=args.key, pubkey_hex=args.pubkey)
        return _prove(args)
    except KeyFileError as exc:
        print(f"hero-login: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _keygen(out: str) -> int:
    key = nacl.public.PrivateKey.generate()
    write_key_file(out, bytes(key))
    public = bytes(key.public_key)
    print(f"wrote {out} (keep it secret)")
    print(f"public key {public.hex()}")
    print(derive_address(public))
    return EXIT_OK


def _address(*, key_path: str | None, pubkey_hex: str | None) -> int:
    if key_path is not None:
        public = bytes(nacl.public.PrivateKey(read_key_file(key_path)).public_key)
    else:
        parsed = parse_public_key(pubkey_hex or "")
        if parsed is None:
            print("hero-login: --pubkey must be 64 hex characters", file=sys.stderr)
            return EXIT_USAGE
        public = parsed
    print(derive_address(public))
    return EXIT_OK


def _prove(args: argparse.Namespace) -> int:
    key = nacl.public.PrivateKey(read_key_file(args.key))
    url = str(args.url).rstrip("/")
    try:
        service_hex = args.service_pubkey or _get_json(f"{url}/auth/service")["service_pubkey"]
        service = parse_public_key(str(service_hex))
        if service is None:
            print("hero-login: the service key is not 64 hex characters", file=sys.stderr)
            return EXIT_USAGE
        pubkey, box = make_key_proof(key, service, str(args.code).strip().lower())
        answer = requests.post(
            f"{url}/auth/challenges/{args.code.strip()}/proof",
            json={"pubkey": pubkey, "box": box},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        body = _json(answer)
    except requests.ConnectionError:
        print(
            f"hero-login: {url} does not answer (no connection): is the gateway running "
            "there? Give its address with --url",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    except requests.Timeout:
        print(f"hero-login: {url} did not answer within 30 s; try again", file=sys.stderr)
        return EXIT_UNREACHABLE
    except (requests.RequestException, KeyError, ValueError) as exc:
        print(f"hero-login: {url} could not be used: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if answer.status_code == 200:
        print(f"proven: {body.get('address')}. Return to your browser; it logs in by itself.")
        return EXIT_OK
    print(f"refused: {body.get('title')}: {body.get('description')}", file=sys.stderr)
    return EXIT_REFUSED if 400 <= answer.status_code < 500 else EXIT_UNREACHABLE


def _get_json(url: str) -> dict[str, Any]:
    answer = requests.get(url, headers={"Accept": "application/json"}, timeout=30)
    if answer.status_code != 200:
        raise ValueError(f"{url} answered {answer.status_code}")
    return _json(answer)


def _json(answer: requests.Response) -> dict[str, Any]:
    data = answer.json()
    if not isinstance(data, dict):
        raise ValueError("the answer is not a JSON object")
    return data


def run() -> None:
    sys.exit(main())
