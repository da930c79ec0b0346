"""Business refusals over the wire, and the unary calls doing their work."""

from __future__ import annotations

import grpc
import holdfast
import pytest
from google.rpc import code_pb2, error_details_pb2
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2
from server_support import (
    DOMAIN,
    ServerProcess,
    detail,
    error_info,
    rich_status,
    ts,
    unique,
    wait_for_log,
)

Stub = inventory_pb2_grpc.InventoryServiceStub


def stock(inventory: Stub, sku: str, on_hand: int, location: str = "DC1") -> None:
    inventory.SetStock(
        pb.SetStockRequest(
            idempotency_key=unique("count"),
            sku=sku,
            location=location,
            on_hand=on_hand,
            source_sequence=1,
            as_of=ts(1_700_000_000),
        ),
        timeout=10,
    )


def reserve(sku: str, quantity: int, key: str | None = None, **fields: object) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=key or unique("reserve"),
        lines=[pb.LineRequest(sku=sku, quantity=quantity)],
        **fields,
    )


def available(inventory: Stub, sku: str) -> pb.StockPosition:
    (position,) = inventory.GetAvailability(
        pb.GetAvailabilityRequest(skus=[sku]), timeout=10
    ).positions
    return position


def test_a_shortfall_is_failed_precondition_with_the_quantities(inventory: Stub) -> None:
    sku = unique("short")
    stock(inventory, sku, 5)
    with pytest.raises(grpc.RpcError) as raised:
        inventory.Reserve(reserve(sku, 8), timeout=10)
    error = raised.value
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    status = rich_status(error)
    assert (
        status.code
        == holdfast.REASONS["INSUFFICIENT_STOCK"].grpc_code
        == code_pb2.FAILED_PRECONDITION
    )
    info = error_info(status)
    assert info.reason == "INSUFFICIENT_STOCK"
    assert info.domain == DOMAIN
    assert dict(info.metadata) == {
        "sku": sku,
        "location": "DC1",
        "requested": "8",
        "available": "5",
        # The rule set that refused it.
        "rule_version": "builtin-1",
    }
    failure = detail(status, error_details_pb2.PreconditionFailure)
    (violation,) = failure.violations
    assert violation.type == "INSUFFICIENT_STOCK"
    assert sku in violation.subject
    assert detail(status, error_details_pb2.BadRequest) is None
    # Nothing was held.
    assert available(inventory, sku).reserved == 0


def test_repeating_a_refused_request_replays_the_same_refusal(inventory: Stub) -> None:
    sku = unique("short-replay")
    stock(inventory, sku, 1)
    key = unique("key")
    statuses = []
    for _ in range(2):
        with pytest.raises(grpc.RpcError) as raised:
            inventory.Reserve(reserve(sku, 2, key), timeout=10)
        statuses.append(rich_status(raised.value))
    assert statuses[0] == statuses[1]


def test_a_reused_key_with_another_request_is_refused(inventory: Stub) -> None:
    sku = unique("reuse")
    stock(inventory, sku, 10)
    key = unique("key")
    inventory.Reserve(reserve(sku, 1, key), timeout=10)
    with pytest.raises(grpc.RpcError) as raised:
        inventory.Reserve(reserve(sku, 2, key), timeout=10)
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(rich_status(raised.value)).reason == "IDEMPOTENCY_KEY_REUSED"


def test_unknown_and_other_tenants_reservations_are_not_found(inventory: Stub) -> None:
    sku = unique("tenant")
    stock(inventory, sku, 10)
    acme = [("x-holdfast-tenant", "acme")]
    reply = inventory.Reserve(reserve(sku, 1), metadata=acme, timeout=10)
    reservation_id = reply.reservation.reservation_id
    assert (
        inventory.GetReservation(
            pb.GetReservationRequest(reservation_id=reservation_id), metadata=acme, timeout=10
        )
        .lines[0]
        .sku
        == sku
    )
    for metadata in ([("x-holdfast-tenant", "globex")], []):
        with pytest.raises(grpc.RpcError) as raised:
            inventory.GetReservation(
                pb.GetReservationRequest(reservation_id=reservation_id),
                metadata=metadata,
                timeout=10,
            )
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        info = error_info(rich_status(raised.value))
        assert info.reason == "RESERVATION_NOT_FOUND"
        assert info.metadata["reservation_id"] == reservation_id
    # Another tenant cannot act on it either.
    with pytest.raises(grpc.RpcError) as raised:
        inventory.Allocate(
            pb.AllocateRequest(idempotency_key=unique("k"), reservation_id=reservation_id),
            metadata=[("x-holdfast-tenant", "globex")],
            timeout=10,
        )
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_reservation_from_hold_to_return(inventory: Stub) -> None:
    sku = unique("life")
    stock(inventory, sku, 10)
    actor = [("x-holdfast-actor", "shop-7")]
    reply = inventory.Reserve(
        reserve(sku, 4, order_ref="order-1", channel="web"), metadata=actor, timeout=10
    )
    rid = reply.reservation.reservation_id
    assert reply.decision.reason == reasons_pb2.RESERVED
    assert reply.decision.owner == pb.OWNER_HOLDFAST
    # Answered only once durable: the commit is at or after the decision.
    committed = reply.decision.committed_at.ToMilliseconds()
    assert committed >= reply.decision.decided_at.ToMilliseconds()
    assert reply.reservation.state == pb.LINE_STATE_RESERVED
    assert reply.reservation.order_ref == "order-1"
    assert reply.reservation.history[0].actor == "shop-7"
    assert available(inventory, sku).reserved == 4

    def call(method: str, request_type: type, **fields: object) -> pb.ReservationResponse:
        request = request_type(idempotency_key=unique(method), reservation_id=rid, **fields)
        return getattr(inventory, method)(request, timeout=10)

    assert call("Allocate", pb.AllocateRequest).decision.reason == reasons_pb2.ALLOCATED
    picked = call("ConfirmPick", pb.ConfirmPickRequest, as_of=ts(1_700_000_100))
    assert picked.decision.reason == reasons_pb2.PICKED
    assert picked.decision.owner == pb.OWNER_WAREHOUSE
    assert available(inventory, sku).picked == 4
    assert call("ConfirmShipment", pb.ConfirmShipmentRequest).decision.reason == reasons_pb2.SHIPPED
    assert available(inventory, sku).on_hand == 6
    returned = call("RecordReturn", pb.RecordReturnRequest, restock=True)
    assert returned.decision.reason == reasons_pb2.RETURNED
    assert returned.reservation.state == pb.LINE_STATE_RETURNED
    assert available(inventory, sku).on_hand == 10
    actions = [h.action for h in returned.reservation.history]
    assert actions == ["reserve", "allocate", "pick", "ship", "return"]


def test_replay_returns_the_first_outcome(inventory: Stub) -> None:
    sku = unique("replay")
    stock(inventory, sku, 10)
    request = reserve(sku, 3)
    first = inventory.Reserve(request, timeout=10)
    again = inventory.Reserve(request, timeout=10)
    assert not first.decision.replayed
    assert again.decision.replayed
    assert again.reservation.reservation_id == first.reservation.reservation_id
    assert available(inventory, sku).reserved == 3


def test_stock_calls_answer_with_the_position(inventory: Stub) -> None:
    sku = unique("adjust")
    stock(inventory, sku, 10)
    reply = inventory.AdjustStock(
        pb.AdjustStockRequest(
            idempotency_key=unique("adj"),
            sku=sku,
            location="DC1",
            delta=-3,
            adjustment_reason="damaged",
        ),
        timeout=10,
    )
    assert reply.decision.reason == reasons_pb2.STOCK_ADJUSTED
    assert reply.position.on_hand == 7
    assert reply.position.as_of == ts(1_700_000_000)
    with pytest.raises(grpc.RpcError) as raised:
        inventory.AdjustStock(
            pb.AdjustStockRequest(
                idempotency_key=unique("adj"),
                sku=sku,
                location="DC1",
                delta=-8,
                adjustment_reason="lost",
            ),
            timeout=10,
        )
    assert error_info(rich_status(raised.value)).reason == "INSUFFICIENT_ON_HAND"


def test_renewing_and_releasing_a_hold(inventory: Stub) -> None:
    sku = unique("renew")
    stock(inventory, sku, 10)
    rid = inventory.Reserve(reserve(sku, 2, hold_seconds=60), timeout=10).reservation.reservation_id
    renewed = inventory.RenewHold(
        pb.RenewHoldRequest(idempotency_key=unique("renew"), reservation_id=rid, hold_seconds=600),
        timeout=10,
    )
    assert renewed.decision.reason == reasons_pb2.HOLD_RENEWED
    released = inventory.Release(
        pb.ReleaseRequest(idempotency_key=unique("rel"), reservation_id=rid, note="cart emptied"),
        timeout=10,
    )
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert available(inventory, sku).reserved == 0
    with pytest.raises(grpc.RpcError) as raised:
        inventory.Allocate(
            pb.AllocateRequest(idempotency_key=unique("a"), reservation_id=rid), timeout=10
        )
    assert error_info(rich_status(raised.value)).reason == "INVALID_TRANSITION"


def test_the_sweeper_expires_holds_without_any_request(
    inventory: Stub, server: ServerProcess
) -> None:
    sku = unique("sweep")
    stock(inventory, sku, 10)
    held = inventory.Reserve(reserve(sku, 2, hold_seconds=1), timeout=10)
    rid = held.reservation.reservation_id
    # No call touches the position until the sweeper has logged this expiry:
    # one INFO line per expired hold, naming its reservation.
    swept = wait_for_log(
        server,
        lambda r: r.get("msg") == "hold expired" and r.get("reservation_id") == rid,
        timeout=30,
    )
    assert len(swept) == 1, swept
    assert swept[0]["level"] == "INFO"
    assert available(inventory, sku).reserved == 0
