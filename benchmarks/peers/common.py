"""What the peer servers share: the process harness (a grpc.aio server with
health, stopped by SIGTERM), the shape of a Reserve answer, and refusals as
rich statuses like holdfast's.

Each peer serves only what the benchmark calls: SetStock, Reserve and
GetAvailability of ``holdfast.v1.InventoryService`` (the same generated
stubs and messages as holdfast), plus ``grpc.health.v1``. No interceptors,
no metrics, no rules: identity is the default tenant, which if anything
flatters the peers. For comparison only; never run one for real.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2

TENANT = "default"  # what holdfast calls an unauthenticated caller's tenant
ACTOR = "anonymous"
RULE_VERSION = "builtin-1"
DEFAULT_HOLD_MS = 900_000  # holdfast's default hold: 15 minutes
DOMAIN = "holdfast.v1"  # holdfast's ErrorInfo domain

Line = tuple[str, str, int]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def mint_id() -> str:
    """A reservation id of holdfast's length (a UUID string)."""
    return str(uuid.uuid4())


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


def reserve_response(
    reservation_id: str,
    order_ref: str,
    channel: str,
    lines: Sequence[Line],
    created_ms: int,
    expires_ms: int,
    idempotency_key: str,
    replayed: bool = False,
) -> pb.ReserveResponse:
    """The answer holdfast gives a fresh hold: the reservation (its lines and
    its one history entry) and the decision, with the same fields set."""
    created = timestamp(created_ms)
    reservation = pb.Reservation(
        reservation_id=reservation_id,
        order_ref=order_ref,
        channel=channel,
        state=pb.LINE_STATE_RESERVED,
        created_at=created,
        expires_at=timestamp(expires_ms),
        rule_version=RULE_VERSION,
    )
    for sku, location, quantity in lines:
        reservation.lines.add(
            sku=sku, location=location, quantity=quantity, state=pb.LINE_STATE_RESERVED
        )
    reservation.history.add(
        action="reserve",
        to_state=pb.LINE_STATE_RESERVED,
        at=created,
        actor=ACTOR,
        reason=reasons_pb2.RESERVED,
        rule_version=RULE_VERSION,
        idempotency_key=idempotency_key,
    )
    decision = pb.Decision(
        reason=reasons_pb2.RESERVED,
        decided_at=created,
        committed_at=timestamp(now_ms()),
        rule_version=RULE_VERSION,
        owner=pb.OWNER_HOLDFAST,
        replayed=replayed,
    )
    return pb.ReserveResponse(reservation=reservation, decision=decision)


def stock_response(
    sku: str, location: str, on_hand: int, reserved: int, sequence: int, at_ms: int
) -> pb.StockResponse:
    return pb.StockResponse(
        position=position(sku, location, on_hand, reserved, sequence, at_ms),
        decision=pb.Decision(
            reason=reasons_pb2.STOCK_SET,
            decided_at=timestamp(at_ms),
            committed_at=timestamp(at_ms),
            rule_version=RULE_VERSION,
            owner=pb.OWNER_WAREHOUSE,
        ),
    )


def position(
    sku: str, location: str, on_hand: int, reserved: int, sequence: int, at_ms: int
) -> pb.StockPosition:
    return pb.StockPosition(
        sku=sku,
        location=location,
        on_hand=on_hand,
        reserved=reserved,
        available=on_hand - reserved,
        source_sequence=sequence,
        received_at=timestamp(at_ms),
    )


def request_lines(request: pb.ReserveRequest) -> list[Line]:
    return [(line.sku, line.location, line.quantity) for line in request.lines]


async def refuse(context: Any, reason: str, message: str, subject: str = "") -> NoReturn:
    """End the call as holdfast ends a refused one: FAILED_PRECONDITION (or
    INVALID_ARGUMENT) with ErrorInfo naming the reason."""
    code = (
        code_pb2.INVALID_ARGUMENT if reason == "INVALID_ARGUMENT" else code_pb2.FAILED_PRECONDITION
    )
    status = status_pb2.Status(code=code, message=message)
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN))
    if code == code_pb2.FAILED_PRECONDITION:
        failure = error_details_pb2.PreconditionFailure()
        failure.violations.add(type=reason, subject=subject, description=message)
        status.details.add().Pack(failure)
    grpc_status = rpc_status.to_status(status)
    await context.abort(grpc_status.code, grpc_status.details, grpc_status.trailing_metadata)
    raise AssertionError("abort returned")  # pragma: no cover


def check_reserve(request: pb.ReserveRequest) -> str | None:
    """The few request checks every peer makes (holdfast makes many more)."""
    if not request.idempotency_key:
        return "idempotency_key must not be empty"
    if not request.lines:
        return "lines must not be empty"
    for line in request.lines:
        if not line.sku or line.quantity < 1:
            return "every line needs a SKU and a quantity of at least 1"
    return None


def parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    return parser


async def serve(
    listen: str,
    servicer: inventory_pb2_grpc.InventoryServiceServicer,
    on_stop: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Serve ``servicer`` and health on ``listen`` until SIGTERM or SIGINT."""
    server = grpc.aio.server()
    inventory_pb2_grpc.add_InventoryServiceServicer_to_server(servicer, server)
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    server.add_insecure_port(listen)
    await server.start()
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    await stopping.wait()
    await server.stop(1.0)
    if on_stop is not None:
        await on_stop()
    return 0


class PeerServicer(inventory_pb2_grpc.InventoryServiceServicer):
    """The base of every peer: ExecuteBatch of SetStock operations only (the
    load generator stocks its SKUs that way); any other operation in a batch
    is answered UNIMPLEMENTED. (mypy sees the generated servicer's other
    methods as abstract: the peers leave them to grpc's UNIMPLEMENTED.)"""

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        raise NotImplementedError

    async def ExecuteBatch(self, request: pb.BatchRequest, context: Any) -> pb.BatchResponse:  # noqa: N802
        results = []
        for operation in request.operations:
            if operation.WhichOneof("operation") == "set_stock":
                stock = await self.SetStock(operation.set_stock, context)
                results.append(pb.OperationResult(stock=stock))
            else:
                error = status_pb2.Status(
                    code=code_pb2.UNIMPLEMENTED, message="peers batch SetStock only"
                )
                results.append(pb.OperationResult(error=error))
        return pb.BatchResponse(results=results)
