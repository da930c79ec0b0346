"""Malformed requests: INVALID_ARGUMENT naming the field, nothing changes, the
server keeps serving. Each case is one RPC with one thing wrong."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2
from server_support import DOMAIN, SERVICE, bad_request_fields, error_info, rich_status, ts

SKU = f"malformed-{uuid.uuid4().hex[:8]}"
LOCATION = "DC1"
SOME_ID = str(uuid.uuid4())  # well formed, belongs to no one
LONG = "x" * 129
AS_OF = ts(1_700_000_000)
_keys = iter(range(1_000_000))


def key() -> str:
    return f"{SKU}-key-{next(_keys)}"


def line(sku: str = SKU, location: str = LOCATION, quantity: int = 1) -> pb.LineRequest:
    return pb.LineRequest(sku=sku, location=location, quantity=quantity)


def reserve(**fields: Any) -> pb.ReserveRequest:
    values: dict[str, Any] = {"idempotency_key": key(), "lines": [line()]}
    values.update(fields)
    return pb.ReserveRequest(**values)


def three_lines_third(quantity: int) -> list[pb.LineRequest]:
    return [line(), line(), line(quantity=quantity)]


def set_stock(**fields: Any) -> pb.SetStockRequest:
    values: dict[str, Any] = {
        "idempotency_key": key(),
        "sku": SKU,
        "location": LOCATION,
        "on_hand": 5,
        "source_sequence": 100,
        "as_of": AS_OF,
    }
    values.update(fields)
    return pb.SetStockRequest(**values)


def adjust(**fields: Any) -> pb.AdjustStockRequest:
    values: dict[str, Any] = {
        "idempotency_key": key(),
        "sku": SKU,
        "location": LOCATION,
        "delta": 1,
        "adjustment_reason": "receipt",
    }
    values.update(fields)
    return pb.AdjustStockRequest(**values)


def batch_of(count: int) -> pb.BatchRequest:
    op = pb.Operation(adjust_stock=adjust())
    return pb.BatchRequest(operations=[op] * count)


@dataclass
class Case:
    rpc: str
    request: Callable[[], Any]  # built lazily: 10,001 operations are not built at import
    field: str
    metadata: list[tuple[str, str]] = field(default_factory=list)


CASES: dict[str, Case] = {
    # Reserve
    "reserve: no idempotency key": Case(
        "Reserve", lambda: reserve(idempotency_key=""), "idempotency_key"
    ),
    "reserve: key of 129 chars": Case(
        "Reserve", lambda: reserve(idempotency_key=LONG), "idempotency_key"
    ),
    "reserve: key with a control char": Case(
        "Reserve", lambda: reserve(idempotency_key="k\x07"), "idempotency_key"
    ),
    "reserve: no lines": Case("Reserve", lambda: reserve(lines=[]), "lines"),
    "reserve: 101 lines": Case("Reserve", lambda: reserve(lines=[line()] * 101), "lines"),
    "reserve: empty sku": Case("Reserve", lambda: reserve(lines=[line(sku="")]), "lines[0].sku"),
    "reserve: sku of 129 chars": Case(
        "Reserve", lambda: reserve(lines=[line(), line(), line(sku=LONG)]), "lines[2].sku"
    ),
    "reserve: sku with a newline": Case(
        "Reserve", lambda: reserve(lines=[line(sku="a\nb")]), "lines[0].sku"
    ),
    "reserve: location of 129 chars": Case(
        "Reserve", lambda: reserve(lines=[line(location=LONG)]), "lines[0].location"
    ),
    "reserve: zero quantity": Case(
        "Reserve", lambda: reserve(lines=[line(quantity=0)]), "lines[0].quantity"
    ),
    "reserve: negative quantity": Case(
        "Reserve", lambda: reserve(lines=three_lines_third(-1)), "lines[2].quantity"
    ),
    "reserve: most negative quantity": Case(
        "Reserve", lambda: reserve(lines=[line(quantity=-(2**63))]), "lines[0].quantity"
    ),
    "reserve: huge quantity": Case(
        "Reserve", lambda: reserve(lines=three_lines_third(2**63 - 1)), "lines[2].quantity"
    ),
    "reserve: a unit over the line limit": Case(
        "Reserve", lambda: reserve(lines=[line(quantity=1_000_000_001)]), "lines[0].quantity"
    ),
    "reserve: negative hold": Case("Reserve", lambda: reserve(hold_seconds=-1), "hold_seconds"),
    "reserve: huge hold": Case("Reserve", lambda: reserve(hold_seconds=2**62), "hold_seconds"),
    "reserve: hold past the maximum": Case(
        "Reserve", lambda: reserve(hold_seconds=86_401), "hold_seconds"
    ),
    "reserve: order ref of 129 chars": Case(
        "Reserve", lambda: reserve(order_ref=LONG), "order_ref"
    ),
    "reserve: channel with a tab": Case("Reserve", lambda: reserve(channel="w\teb"), "channel"),
    "reserve: tenant of 129 chars": Case(
        "Reserve", reserve, "tenant", metadata=[("x-holdfast-tenant", LONG)]
    ),
    "reserve: actor of 129 chars": Case(
        "Reserve", reserve, "actor", metadata=[("x-holdfast-actor", LONG)]
    ),
    # Allocate, release, renew
    "allocate: malformed id": Case(
        "Allocate",
        lambda: pb.AllocateRequest(idempotency_key=key(), reservation_id="res-1"),
        "reservation_id",
    ),
    "allocate: no id": Case(
        "Allocate", lambda: pb.AllocateRequest(idempotency_key=key()), "reservation_id"
    ),
    "allocate: negative quantity": Case(
        "Allocate",
        lambda: pb.AllocateRequest(
            idempotency_key=key(), reservation_id=SOME_ID, lines=[line(quantity=-5)]
        ),
        "lines[0].quantity",
    ),
    "allocate: no idempotency key": Case(
        "Allocate", lambda: pb.AllocateRequest(reservation_id=SOME_ID), "idempotency_key"
    ),
    "release: note of 1,025 bytes": Case(
        "Release",
        lambda: pb.ReleaseRequest(idempotency_key=key(), reservation_id=SOME_ID, note="n" * 1025),
        "note",
    ),
    "release: malformed id": Case(
        "Release",
        lambda: pb.ReleaseRequest(idempotency_key=key(), reservation_id=SOME_ID + "0"),
        "reservation_id",
    ),
    "renew: negative hold": Case(
        "RenewHold",
        lambda: pb.RenewHoldRequest(
            idempotency_key=key(), reservation_id=SOME_ID, hold_seconds=-30
        ),
        "hold_seconds",
    ),
    "renew: huge hold": Case(
        "RenewHold",
        lambda: pb.RenewHoldRequest(
            idempotency_key=key(), reservation_id=SOME_ID, hold_seconds=2**63 - 1
        ),
        "hold_seconds",
    ),
    # Warehouse calls on a reservation
    "pick: malformed id": Case(
        "ConfirmPick",
        lambda: pb.ConfirmPickRequest(idempotency_key=key(), reservation_id="12345"),
        "reservation_id",
    ),
    "pick: as_of before 1970": Case(
        "ConfirmPick",
        lambda: pb.ConfirmPickRequest(idempotency_key=key(), reservation_id=SOME_ID, as_of=ts(-1)),
        "as_of",
    ),
    "pick: as_of with negative nanos": Case(
        "ConfirmPick",
        lambda: pb.ConfirmPickRequest(
            idempotency_key=key(), reservation_id=SOME_ID, as_of=ts(1_700_000_000, -1)
        ),
        "as_of",
    ),
    "unpick: zero quantity": Case(
        "Unpick",
        lambda: pb.UnpickRequest(
            idempotency_key=key(), reservation_id=SOME_ID, lines=[line(quantity=0)]
        ),
        "lines[0].quantity",
    ),
    "ship: as_of after 9999": Case(
        "ConfirmShipment",
        lambda: pb.ConfirmShipmentRequest(
            idempotency_key=key(), reservation_id=SOME_ID, as_of=ts(253_402_300_800)
        ),
        "as_of",
    ),
    "ship: as_of at the end of int64": Case(
        "ConfirmShipment",
        lambda: pb.ConfirmShipmentRequest(
            idempotency_key=key(), reservation_id=SOME_ID, as_of=ts(2**63 - 1)
        ),
        "as_of",
    ),
    "return: 101 lines": Case(
        "RecordReturn",
        lambda: pb.RecordReturnRequest(
            idempotency_key=key(), reservation_id=SOME_ID, lines=[line()] * 101
        ),
        "lines",
    ),
    # Stock
    "set stock: no as_of": Case("SetStock", lambda: set_stock(as_of=None), "as_of"),
    "set stock: negative on hand": Case("SetStock", lambda: set_stock(on_hand=-1), "on_hand"),
    "set stock: on hand past 10^12": Case(
        "SetStock", lambda: set_stock(on_hand=10**12 + 1), "on_hand"
    ),
    "set stock: empty sku": Case("SetStock", lambda: set_stock(sku=""), "sku"),
    "set stock: location with a control char": Case(
        "SetStock", lambda: set_stock(location="D\x00C"), "location"
    ),
    "set stock: key of 129 chars": Case(
        "SetStock", lambda: set_stock(idempotency_key=LONG), "idempotency_key"
    ),
    "adjust: zero delta": Case("AdjustStock", lambda: adjust(delta=0), "delta"),
    "adjust: delta past 10^12": Case("AdjustStock", lambda: adjust(delta=-(10**12) - 1), "delta"),
    "adjust: no reason": Case(
        "AdjustStock", lambda: adjust(adjustment_reason=""), "adjustment_reason"
    ),
    # Reads
    "availability: 1,001 skus": Case(
        "GetAvailability",
        lambda: pb.GetAvailabilityRequest(skus=[f"s{i}" for i in range(1001)]),
        "skus",
    ),
    "availability: 1,001 locations": Case(
        "GetAvailability",
        lambda: pb.GetAvailabilityRequest(locations=[f"l{i}" for i in range(1001)]),
        "locations",
    ),
    "get reservation: malformed id": Case(
        "GetReservation", lambda: pb.GetReservationRequest(reservation_id="abc"), "reservation_id"
    ),
    "get reservation: no id": Case(
        "GetReservation", lambda: pb.GetReservationRequest(), "reservation_id"
    ),
    # Batches
    "batch: empty": Case("ExecuteBatch", lambda: pb.BatchRequest(), "operations"),
    "batch: unset operation": Case(
        "ExecuteBatch",
        lambda: pb.BatchRequest(
            operations=[pb.Operation(set_stock=set_stock())] * 3 + [pb.Operation()]
        ),
        "operations[3]",
    ),
    "batch: 10,001 operations": Case("ExecuteBatch", lambda: batch_of(10_001), "operations"),
    # The audit trail (WatchEvents takes any from_sequence: one below the
    # retained journal is refused, see tests/feed).
    "list events: page of 1,001": Case(
        "ListEvents", lambda: pb.ListEventsRequest(page_size=1001), "page_size"
    ),
    "list events: negative page": Case(
        "ListEvents", lambda: pb.ListEventsRequest(page_size=-1), "page_size"
    ),
    "list events: a token not ours": Case(
        "ListEvents", lambda: pb.ListEventsRequest(page_token="?"), "page_token"
    ),
    "list events: malformed reservation id": Case(
        "ListEvents", lambda: pb.ListEventsRequest(reservation_id="abc"), "reservation_id"
    ),
    "list events: since with bad nanos": Case(
        "ListEvents", lambda: pb.ListEventsRequest(since=ts(1, -1)), "since"
    ),
}

# Requests without a malformed form (any value is valid).
UNCHECKED_RPCS = {"WatchEvents"}


def positions(inventory: inventory_pb2_grpc.InventoryServiceStub) -> list[pb.StockPosition]:
    return list(
        inventory.GetAvailability(pb.GetAvailabilityRequest(skus=[SKU]), timeout=10).positions
    )


@pytest.fixture(scope="module")
def stocked(inventory: inventory_pb2_grpc.InventoryServiceStub) -> list[pb.StockPosition]:
    """A position with a hold on it, before any malformed request."""
    inventory.SetStock(set_stock(on_hand=10, source_sequence=1), timeout=10)
    inventory.Reserve(reserve(lines=[line(quantity=2)]), timeout=10)
    return positions(inventory)


def test_the_table_covers_enough() -> None:
    assert len(CASES) >= 40
    rpcs = {case.rpc for case in CASES.values()}
    methods = set(pb.DESCRIPTOR.services_by_name["InventoryService"].methods_by_name)
    assert rpcs == methods - UNCHECKED_RPCS


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_is_invalid_argument_naming_the_field(
    name: str,
    inventory: inventory_pb2_grpc.InventoryServiceStub,
    stocked: list[pb.StockPosition],
) -> None:
    case = CASES[name]
    method = getattr(inventory, case.rpc)
    with pytest.raises(grpc.RpcError) as raised:
        method(case.request(), metadata=case.metadata, timeout=30)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    status = rich_status(error)
    info = error_info(status)
    assert info.reason == "INVALID_ARGUMENT"
    assert info.domain == DOMAIN
    assert info.metadata["field"] == case.field
    assert bad_request_fields(status) == [case.field]
    assert case.field in status.message


def test_after_the_table_nothing_changed_and_the_server_serves(
    inventory: inventory_pb2_grpc.InventoryServiceStub,
    health: health_pb2_grpc.HealthStub,
    stocked: list[pb.StockPosition],
) -> None:
    assert positions(inventory) == stocked
    reply = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_malformed_request_stores_no_idempotency_key(
    inventory: inventory_pb2_grpc.InventoryServiceStub, stocked: list[pb.StockPosition]
) -> None:
    reused = key()
    with pytest.raises(grpc.RpcError):
        inventory.Reserve(reserve(idempotency_key=reused, lines=[line(quantity=0)]), timeout=10)
    reply = inventory.Reserve(reserve(idempotency_key=reused), timeout=10)
    assert not reply.decision.replayed
    assert reply.decision.reason == reasons_pb2.RESERVED
