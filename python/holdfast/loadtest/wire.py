"""Channels to the targets and the calls over them (raw grpc.aio stubs: no
client retries, so every failure is seen and counted)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Any

import grpc

from holdfast.client.calls import identity_metadata
from holdfast.loadtest import ops
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

_CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


class Wire:
    """One channel per target; successive calls go to successive targets."""

    def __init__(self, targets: Sequence[str], tenant: str, timeout: float) -> None:
        self.timeout = timeout
        self.metadata = identity_metadata(tenant, "loadtest")
        self._channels: list[Any] = [
            grpc.aio.insecure_channel(t, options=_CHANNEL_OPTIONS) for t in targets
        ]
        self._stubs: list[Any] = [
            inventory_pb2_grpc.InventoryServiceStub(c) for c in self._channels
        ]
        self._next = itertools.cycle(range(len(self._stubs)))

    def stub(self) -> Any:
        return self._stubs[next(self._next)]

    async def wait_ready(self, timeout: float) -> None:
        await asyncio.wait_for(
            asyncio.gather(*(c.channel_ready() for c in self._channels)), timeout
        )

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self._channels))

    async def unary(self, op: ops.Op) -> ops.Outcome:
        method = getattr(self.stub(), op.kind.method)
        try:
            response = await method(op.request, timeout=self.timeout, metadata=self.metadata)
        except grpc.RpcError as e:
            return ops.from_rpc_error(e)
        return ops.from_response(response)

    async def batch(self, batch: Sequence[ops.Op]) -> list[ops.Outcome]:
        request = pb.BatchRequest(operations=[op.as_batch_operation() for op in batch])
        try:
            response = await self.stub().ExecuteBatch(
                request, timeout=self.timeout, metadata=self.metadata
            )
        except grpc.RpcError as e:
            failed = ops.from_rpc_error(e)
            return [failed] * len(batch)
        if len(response.results) != len(batch):
            return [ops.Outcome(ops.ERROR, "BATCH_RESULT_COUNT")] * len(batch)
        return [ops.from_batch_result(r) for r in response.results]

    async def availability(self, skus: Sequence[str]) -> list[pb.StockPosition]:
        """Every position of these SKUs (1,000 SKUs a request); raises grpc.RpcError."""
        positions: list[pb.StockPosition] = []
        for start in range(0, len(skus), 1000):
            request = pb.GetAvailabilityRequest(skus=list(skus[start : start + 1000]))
            response = await self.stub().GetAvailability(
                request, timeout=self.timeout, metadata=self.metadata
            )
            positions.extend(response.positions)
        return positions
