"""Peer 2: the pure-Python model (tests/model.py) behind the same gRPC server.

    python benchmarks/peers/model_server.py --listen 127.0.0.1:PORT

``ModelEngine`` is the project's pure-Python oracle of the core's state
machine: the same decisions, the same idempotency and the same views as
``holdfast.Engine``. Requests are converted and answers built with
holdfast's own ``holdfast.convert``, so the only difference from
``holdfast serve --in-memory`` is who decides (and that holdfast also runs
its interceptors, metrics, breakers and expiry sweeper). In memory: nothing
is written anywhere.

The model is written to be obviously right, not fast: every request sweeps
for due holds by scanning every reservation it holds, so a request costs
more the longer the run (see BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

import common
from holdfast import convert
from holdfast.v1 import inventory_pb2 as pb
from model import ModelEngine


class ModelServicer(common.PeerServicer):
    def __init__(self) -> None:
        self.engine: Any = ModelEngine()  # untyped: the oracle is plain Python

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:  # noqa: N802
        problem = common.check_reserve(request)
        if problem:
            await common.refuse(context, "INVALID_ARGUMENT", problem)
        outcome = self.engine.reserve(
            common.TENANT,
            request.idempotency_key,
            common.ACTOR,
            common.now_ms(),
            request.order_ref,
            request.channel,
            common.request_lines(request),
            request.hold_seconds,
            request.allow_partial,
        )
        if not outcome.accepted:
            rejection = outcome.rejection
            await common.refuse(context, rejection.reason, rejection.message)
        view = self.engine.reservation(common.TENANT, outcome.reservation_id)
        return pb.ReserveResponse(
            reservation=convert.reservation(view), decision=convert.decision(outcome)
        )

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        now = common.now_ms()
        outcome = self.engine.set_stock(
            common.TENANT,
            request.idempotency_key,
            common.ACTOR,
            now,
            request.sku,
            request.location,
            request.on_hand,
            request.source_sequence,
            request.as_of.ToMilliseconds() if request.HasField("as_of") else now,
        )
        if not outcome.accepted:
            rejection = outcome.rejection
            await common.refuse(context, rejection.reason, rejection.message)
        view = self.engine.position(request.sku, request.location)
        return pb.StockResponse(position=convert.position(view), decision=convert.decision(outcome))

    async def GetAvailability(  # noqa: N802
        self, request: pb.GetAvailabilityRequest, context: Any
    ) -> pb.GetAvailabilityResponse:
        now = common.now_ms()
        views = self.engine.positions(list(request.skus), list(request.locations))
        return pb.GetAvailabilityResponse(
            positions=[convert.position(view) for view in views], as_of=common.timestamp(now)
        )


def main() -> int:
    options = common.parser(__doc__.splitlines()[0]).parse_args()
    return asyncio.run(common.serve(options.listen, ModelServicer()))  # type: ignore[abstract]


if __name__ == "__main__":
    sys.exit(main())
