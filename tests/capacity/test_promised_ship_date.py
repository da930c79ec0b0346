"""An allocation answer shows each line's promised ship date, and a ship_by
before it is refused CUTOFF_MISSED with its facts, through a real server."""

from __future__ import annotations

import datetime
import uuid

import grpc
import pytest
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

TENANT = (("x-holdfast-tenant", "capacity"), ("x-holdfast-actor", "tester"))


def key() -> str:
    return uuid.uuid4().hex


def stocked_hold(inventory: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> str:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    for location in ("CAP-UTC", "CAP-NONE"):
        inventory.SetStock(
            pb.SetStockRequest(
                idempotency_key=key(),
                sku=sku,
                location=location,
                on_hand=50,
                source_sequence=1,
                as_of=now,
            ),
            metadata=TENANT,
        )
    held = inventory.Reserve(
        pb.ReserveRequest(
            idempotency_key=key(),
            lines=[
                pb.LineRequest(sku=sku, location="CAP-UTC", quantity=2),
                pb.LineRequest(sku=sku, location="CAP-NONE", quantity=1),
            ],
        ),
        metadata=TENANT,
    )
    return str(held.reservation.reservation_id)


def error_facts(error: grpc.RpcError) -> tuple[str, dict[str, str]]:
    status = status_pb2.Status.FromString(
        dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    )
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason, dict(info.metadata)
    raise AssertionError(f"no ErrorInfo in {status}")


def test_an_allocation_answer_shows_the_promised_ship_date(
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    sku = f"MUG-{key()[:8]}"
    reservation_id = stocked_hold(inventory, sku)
    answer = inventory.Allocate(
        pb.AllocateRequest(idempotency_key=key(), reservation_id=reservation_id),
        metadata=TENANT,
    )
    decided = answer.decision.decided_at.ToDatetime(tzinfo=datetime.UTC)
    # Past the 00:00 cutoff: the next day in UTC.
    tomorrow = (decided.date() + datetime.timedelta(days=1)).isoformat()
    promised = {line.location: line.promised_ship_date for line in answer.reservation.lines}
    assert promised == {"CAP-UTC": tomorrow, "CAP-NONE": ""}
    shown = inventory.GetReservation(
        pb.GetReservationRequest(reservation_id=reservation_id), metadata=TENANT
    )
    assert {line.location: line.promised_ship_date for line in shown.lines} == promised


def test_ship_by_before_the_promise_is_cutoff_missed(
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    reservation_id = stocked_hold(inventory, f"MUG-{key()[:8]}")
    with pytest.raises(grpc.RpcError) as refused:
        inventory.Allocate(
            pb.AllocateRequest(
                idempotency_key=key(), reservation_id=reservation_id, ship_by="2000-01-01"
            ),
            metadata=TENANT,
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    reason, facts = error_facts(refused.value)
    assert reason == "CUTOFF_MISSED"
    assert facts["location"] == "CAP-UTC"
    assert facts["ship_by"] == "2000-01-01"
    assert facts["cutoff"] == "00:00"
    assert facts["time_zone"] == "UTC"
    assert facts["promised"] > "2000-01-01"


def test_a_malformed_ship_by_is_refused_naming_the_field(
    inventory: inventory_pb2_grpc.InventoryServiceStub,
) -> None:
    reservation_id = stocked_hold(inventory, f"MUG-{key()[:8]}")
    with pytest.raises(grpc.RpcError) as refused:
        inventory.Allocate(
            pb.AllocateRequest(
                idempotency_key=key(), reservation_id=reservation_id, ship_by="next week"
            ),
            metadata=TENANT,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ship_by" in (refused.value.details() or "")
