"""Peer 1, the transport ceiling: grpc.aio answering Reserve without deciding.

    python benchmarks/peers/noop_server.py --listen 127.0.0.1:PORT

Every Reserve gets the same ReserveResponse, built once at start-up with the
shape and the sizes of holdfast's answer to a one-line hold (a reservation
with one line and one history entry, a decision). Nothing is checked, kept
or decided: what is left is gRPC, HTTP/2 and protobuf serialisation in one
Python process, the most a grpc.aio server can do on this machine.
SetStock only remembers the count (the load generator's setup reads it back
and refuses to start without it); GetAvailability answers the counts with
nothing reserved. So the load generator's end checks pass against it
trivially: they mean nothing here.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import common
from holdfast.v1 import inventory_pb2 as pb


class NoopServicer(common.PeerServicer):
    def __init__(self) -> None:
        now = common.now_ms()
        self.reserved = common.reserve_response(
            common.mint_id(),
            "order-0000000001",
            "",
            [("SKU-000001", "WH-1", 1)],
            now,
            now + common.DEFAULT_HOLD_MS,
            "00000000-0000-0000-0000-000000000000",
        )
        self.counts: dict[tuple[str, str], tuple[int, int]] = {}

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:  # noqa: N802
        return self.reserved

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        now = common.now_ms()
        self.counts[(request.sku, request.location)] = (request.on_hand, request.source_sequence)
        return common.stock_response(
            request.sku, request.location, request.on_hand, 0, request.source_sequence, now
        )

    async def GetAvailability(  # noqa: N802
        self, request: pb.GetAvailabilityRequest, context: Any
    ) -> pb.GetAvailabilityResponse:
        now = common.now_ms()
        skus, locations = set(request.skus), set(request.locations)
        return pb.GetAvailabilityResponse(
            positions=[
                common.position(sku, location, on_hand, 0, sequence, now)
                for (sku, location), (on_hand, sequence) in self.counts.items()
                if (not skus or sku in skus) and (not locations or location in locations)
            ],
            as_of=common.timestamp(now),
        )


def main() -> int:
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    return asyncio.run(common.serve(options.listen, NoopServicer()))  # type: ignore[abstract]


if __name__ == "__main__":
    sys.exit(main())
