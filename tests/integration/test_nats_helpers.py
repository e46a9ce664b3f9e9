"""The NATS helpers the tests and the bench share (tests/support/nats_helpers.py)."""

from __future__ import annotations

import asyncio
import uuid

import nats
from nats.js.errors import BucketNotFoundError

from tests.conftest import need
from tests.support.nats_helpers import NATS_URL, delete_bucket
from tests.support.services import nats_reachable


async def _bucket_exists(bucket: str, *, create: bool = False) -> bool:
    nc = await nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream(timeout=5)
        if create:
            await js.create_key_value(bucket=bucket)
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            return False
        return True
    finally:
        await nc.close()


def test_a_bucket_is_deleted_and_a_missing_one_is_no_error() -> None:
    need("NATS", nats_reachable())
    bucket = f"T{uuid.uuid4().hex[:12]}"
    assert asyncio.run(_bucket_exists(bucket, create=True))
    delete_bucket(bucket)
    assert not asyncio.run(_bucket_exists(bucket))
    delete_bucket(bucket)
