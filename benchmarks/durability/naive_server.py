"""The naive durable server, for comparison only: one SQLite commit per request.

    python benchmarks/durability/naive_server.py --listen 127.0.0.1:PORT --database FILE

What group commit is measured against. The same engine (``holdfast.Engine``),
the same request conversion (``holdfast.convert``), the same schema and the
same event-writing function as the real store (``holdfast.store.sqlite``),
with ``synchronous=FULL`` in WAL mode; but every Reserve is decided and then
committed in its own transaction on the event loop's thread before it is
answered, so requests wait for each other's fsync one at a time.

Only what the benchmark calls is served: Reserve, SetStock and health. No
interceptor (identity is the default tenant), which if anything flatters it.
Not part of holdfast; never run it for real.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import grpc
from holdfast import Engine, clock, convert
from holdfast.store import sqlite
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

# The peer servers' harness: a grpc.aio server with health, stopped by SIGTERM.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))

from common import ACTOR, TENANT, parser, serve


class NaiveServicer(inventory_pb2_grpc.InventoryServiceServicer):
    def __init__(self, database: str, synchronous: str) -> None:
        self.engine = Engine()
        self.conn = sqlite.connect(database, synchronous)

    def _decide_and_commit(self, item: Any) -> Any:
        method = getattr(self.engine, item[0])
        outcome = method(*item[1:])
        # The naive part: this request's events, one transaction, now.
        sqlite.append(self.conn, self.engine.drain_journal(), clock.now_ms())
        return outcome

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:  # noqa: N802
        item = convert.reserve(request, TENANT, ACTOR, clock.now_ms())
        outcome = self._decide_and_commit(item)
        if not outcome.accepted:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, outcome.reason)
        view = self.engine.reservation(TENANT, outcome.reservation_id)
        return pb.ReserveResponse(
            reservation=convert.reservation(view), decision=convert.decision(outcome)
        )

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        item = convert.set_stock(request, TENANT, ACTOR, clock.now_ms())
        outcome = self._decide_and_commit(item)
        if not outcome.accepted:
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, outcome.reason)
        return pb.StockResponse(decision=convert.decision(outcome))


def main() -> int:
    arguments = parser(__doc__.splitlines()[0])
    arguments.add_argument("--database", required=True)
    arguments.add_argument("--synchronous", default="FULL")
    options = arguments.parse_args()
    servicer = NaiveServicer(options.database, options.synchronous)
    return asyncio.run(serve(options.listen, servicer))


if __name__ == "__main__":
    sys.exit(main())
