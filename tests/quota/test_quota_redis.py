"""Tenant caps across replicas on one Redis: each replica decides on its own
copy of the state, so two replicas could each see room for the last hold.
A reserve's proposal guards the tenant's holds (``t:TENANT``), so the store
commits only one of them and the other is decided again: however the calls
interleave, the tenant never holds past its cap."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from holdfast.client import AsyncClient, QuotaExceeded, RetryPolicy
from quota_support import LOCATION, Holdfast, unique
from redisproc import RedisServer

CAP = 3


@pytest.fixture
def replicas(
    tmp_path: Path, redis_server: RedisServer, redis_prefix: str
) -> Iterator[list[Holdfast]]:
    started = []
    try:
        for node in (1, 2):
            redis = ["--redis-url", redis_server.url, "--redis-prefix", redis_prefix]
            started.append(
                Holdfast(
                    tmp_path,
                    "--node-id",
                    str(node),
                    "--tenant-max-open-holds",
                    str(CAP),
                    redis=redis,
                ).start()
            )
        yield started
    finally:
        for replica in started:
            assert replica.stop() == 0


async def test_replicas_never_hold_past_the_cap_together(replicas: list[Holdfast]) -> None:
    sku, tenant = unique("sku"), unique("shop")
    clients = [
        AsyncClient(r.target, tenant=tenant, actor="quota-tests", retry=RetryPolicy(max_attempts=5))
        for r in replicas
    ]
    async with AsyncClient(replicas[0].target, tenant="wms") as wms:
        await wms.set_stock(sku, LOCATION, 1000, source_sequence=1)
    try:

        async def reserve(client: AsyncClient) -> str:
            try:
                answer = await client.reserve([(sku, LOCATION, 1)])
            except QuotaExceeded:
                return "refused"
            return str(answer.reservation.reservation_id)

        # Many reserves at once through both replicas.
        results = await asyncio.gather(*(reserve(clients[i % 2]) for i in range(8 * CAP)))
        held = [r for r in results if r != "refused"]
        assert len(held) == CAP, results
        # Both replicas agree, and releasing on one gives quota back on the other.
        await clients[0].release(held[0])
        await clients[1].reserve([(sku, LOCATION, 1)])
        with pytest.raises(QuotaExceeded):
            await clients[0].reserve([(sku, LOCATION, 1)])
    finally:
        for client in clients:
            await client.close()
