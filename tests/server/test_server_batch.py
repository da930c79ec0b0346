"""ExecuteBatch: one result per operation, each what its unary call answers."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2
from server_support import bad_request_fields, error_info, rich_status, ts, unique

Stub = inventory_pb2_grpc.InventoryServiceStub


def unary(inventory: Stub, kind: str, request: Any) -> tuple[Any, status_pb2.Status | None]:
    """The unary call for one batch operation: (response, None) or (None, status)."""
    method = "".join(part.title() for part in kind.split("_"))
    try:
        return getattr(inventory, method)(request, timeout=10), None
    except grpc.RpcError as error:
        return None, rich_status(error)


def test_each_operation_answers_as_its_unary_call(inventory: Stub) -> None:
    sku = unique("batch")
    unknown_id = str(uuid.uuid4())
    reserve = pb.ReserveRequest(
        idempotency_key=unique("r"), lines=[pb.LineRequest(sku=sku, location="DC1", quantity=3)]
    )
    operations = [
        pb.Operation(
            set_stock=pb.SetStockRequest(
                idempotency_key=unique("s"),
                sku=sku,
                location="DC1",
                on_hand=5,
                source_sequence=1,
                as_of=ts(1_700_000_000),
            )
        ),
        pb.Operation(reserve=reserve),
        # Short by one: 2 units left after the reserve above.
        pb.Operation(
            reserve=pb.ReserveRequest(
                idempotency_key=unique("r"), lines=[pb.LineRequest(sku=sku, quantity=3)]
            )
        ),
        # Refused before the core (it cannot hold a negative count).
        pb.Operation(
            reserve=pb.ReserveRequest(
                idempotency_key=unique("r"), lines=[pb.LineRequest(sku=sku, quantity=-1)]
            )
        ),
        # Refused by the core's limits.
        pb.Operation(
            adjust_stock=pb.AdjustStockRequest(
                idempotency_key=unique("a"), sku=sku, location="DC1", delta=0, adjustment_reason="x"
            )
        ),
        pb.Operation(
            allocate=pb.AllocateRequest(idempotency_key=unique("al"), reservation_id=unknown_id)
        ),
        pb.Operation(
            adjust_stock=pb.AdjustStockRequest(
                idempotency_key=unique("a"),
                sku=sku,
                location="DC1",
                delta=4,
                adjustment_reason="receipt",
            )
        ),
    ]
    reply = inventory.ExecuteBatch(pb.BatchRequest(operations=operations), timeout=30)
    results = list(reply.results)
    assert [r.WhichOneof("result") for r in results] == [
        "stock",
        "reserve",
        "error",
        "error",
        "error",
        "error",
        "stock",
    ]
    assert results[0].stock.decision.reason == reasons_pb2.STOCK_SET
    assert results[1].reserve.decision.reason == reasons_pb2.RESERVED
    assert results[1].reserve.reservation.lines[0].quantity == 3
    assert error_info(results[2].error).reason == "INSUFFICIENT_STOCK"
    assert results[2].error.code == grpc.StatusCode.FAILED_PRECONDITION.value[0]
    assert bad_request_fields(results[3].error) == ["lines[0].quantity"]
    assert bad_request_fields(results[4].error) == ["delta"]
    assert error_info(results[5].error).reason == "RESERVATION_NOT_FOUND"
    assert results[5].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert results[6].stock.position.on_hand == 9
    assert results[6].stock.position.reserved == 3

    # The same requests as unary calls, same keys: decided ones replay, the
    # malformed ones are refused again, each with the batch's exact Status.
    for operation, result in zip(operations, results, strict=True):
        kind = operation.WhichOneof("operation")
        response, status = unary(inventory, kind, getattr(operation, kind))
        if result.WhichOneof("result") == "error":
            assert status == result.error
        else:
            assert status is None
            assert response.decision.replayed
            assert (
                response.decision.reason
                == getattr(result, result.WhichOneof("result")).decision.reason
            )


def test_an_unset_operation_refuses_the_whole_batch(inventory: Stub) -> None:
    sku = unique("batch-unset")
    stock = pb.SetStockRequest(
        idempotency_key=unique("s"),
        sku=sku,
        location="DC1",
        on_hand=5,
        source_sequence=1,
        as_of=ts(1_700_000_000),
    )
    with pytest.raises(grpc.RpcError) as raised:
        inventory.ExecuteBatch(
            pb.BatchRequest(operations=[pb.Operation(set_stock=stock), pb.Operation()]), timeout=10
        )
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert bad_request_fields(rich_status(raised.value)) == ["operations[1]"]
    # Nothing was decided: the position does not exist.
    reply = inventory.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]), timeout=10)
    assert list(reply.positions) == []


def test_a_full_batch_is_decided(inventory: Stub) -> None:
    sku = unique("batch-full")
    inventory.SetStock(
        pb.SetStockRequest(
            idempotency_key=unique("s"),
            sku=sku,
            location="DC1",
            on_hand=20_000,
            source_sequence=1,
            as_of=ts(1_700_000_000),
        ),
        timeout=10,
    )
    operations = [
        pb.Operation(
            reserve=pb.ReserveRequest(
                idempotency_key=f"{sku}-{i}", lines=[pb.LineRequest(sku=sku, quantity=1)]
            )
        )
        for i in range(10_000)
    ]
    reply = inventory.ExecuteBatch(pb.BatchRequest(operations=operations), timeout=60)
    assert len(reply.results) == 10_000
    assert all(r.reserve.decision.reason == reasons_pb2.RESERVED for r in reply.results)
    (position,) = inventory.GetAvailability(
        pb.GetAvailabilityRequest(skus=[sku]), timeout=10
    ).positions
    assert position.reserved == 10_000
