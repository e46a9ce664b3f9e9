"""The NATS names node and server agree on: subjects, stream, bucket, keys and headers.

Usage, one record per message, from a node to the bridge:

- subject ``<HERO_NATS_SUBJECT_PREFIX>.<node>`` in stream ``HERO_NATS_STREAM`` (whose
  subjects are ``<prefix>.>``);
- header ``Nats-Msg-Id``: the record key ``<node>:<seq>`` (JetStream's deduplication id);
- header ``Hero-Signature``: hex Ed25519 signature of the exact body bytes.

Credit, from the server to every node: the key-value bucket ``HERO_NATS_CREDIT_BUCKET``
holds one state per account under ``acct.<16 address bytes in hex>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nats.js import JetStreamContext

#: Header carrying the record key, JetStream's deduplication id.
MSG_ID_HEADER = "Nats-Msg-Id"
#: Header carrying the hex Ed25519 signature of the body.
SIGNATURE_HEADER = "Hero-Signature"
#: The usage stream when ``HERO_NATS_STREAM`` is unset.
USAGE_STREAM = "HERO_USAGE"
#: The usage subject prefix when ``HERO_NATS_SUBJECT_PREFIX`` is unset.
USAGE_SUBJECT_PREFIX = "hero.usage"
#: The credit bucket when ``HERO_NATS_CREDIT_BUCKET`` is unset.
CREDIT_BUCKET = "HERO_CREDIT"
#: What every account's key in the credit bucket starts with.
CREDIT_KEY_PREFIX = "acct."


def subject_for(prefix: str, node: str) -> str:
    """The subject a node publishes on.

    >>> subject_for("hero.usage", "node-a")
    'hero.usage.node-a'
    """
    return f"{prefix}.{node}"


def bucket_key(address_hex: str) -> str:
    """The bucket key of an account: its 16 address bytes in hex (``:`` is no key letter).

    >>> bucket_key("0520c662fd009e925d9934ed0ab882ab")
    'acct.0520c662fd009e925d9934ed0ab882ab'
    """
    return f"{CREDIT_KEY_PREFIX}{address_hex}"


def address_hex_of(key: str) -> str:
    """The address hex a bucket key names (the inverse of ``bucket_key``).

    >>> address_hex_of("acct.0520c662fd009e925d9934ed0ab882ab")
    '0520c662fd009e925d9934ed0ab882ab'
    """
    return key.removeprefix(CREDIT_KEY_PREFIX)


async def ensure_stream(js: JetStreamContext, *, stream: str, prefix: str) -> bool:
    """Create *stream* on ``<prefix>.>`` unless it exists; an existing one is left as it is.

    Two processes may find the stream missing at once (a node and the bridge starting
    together): the one whose create is refused because the other's won reads the stream
    back, and only fails when it is still missing.

    Returns:
        Whether this call created the stream.

    Raises:
        nats.js.errors.NotFoundError: the create was refused and still no stream exists.
    """
    from nats.js.errors import BadRequestError, NotFoundError  # nats loads only when used

    try:
        await js.stream_info(stream)
        return False
    except NotFoundError:
        pass
    try:
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"])
    except BadRequestError:
        await js.stream_info(stream)  # created meanwhile by someone else: fine if it exists
        return False
    return True
