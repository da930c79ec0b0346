"""Tenant caps on a real server: open holds and held units per tenant are
refused RESOURCE_EXHAUSTED/QUOTA_EXCEEDED with a QuotaFailure naming the
tenant and the limit; another tenant is unaffected; releasing (or
allocating) gives the quota back; the client raises QuotaExceeded."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from holdfast.client import Overloaded, QuotaExceeded, QuotaViolation
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2
from quota_support import LOCATION, Holdfast, refusal_details, unique


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holdfast]:
    directory = tmp_path_factory.mktemp("quota-caps")
    holdfast = Holdfast(
        directory, "--tenant-max-open-holds", "2", "--tenant-max-held-units", "10"
    ).start()
    try:
        yield holdfast
    finally:
        assert holdfast.stop() == 0


def stocked(server: Holdfast, on_hand: int = 100) -> str:
    sku = unique("sku")
    with server.client("warehouse") as wms:
        wms.set_stock(sku, LOCATION, on_hand, source_sequence=1)
    return sku


def test_open_holds_are_capped_per_tenant(server: Holdfast) -> None:
    sku = stocked(server)
    tenant, other = unique("shop"), unique("other")
    with server.client(tenant) as shop, server.client(other) as neighbour:
        first = shop.reserve([(sku, LOCATION, 1)]).reservation.reservation_id
        shop.reserve([(sku, LOCATION, 1)])
        with pytest.raises(QuotaExceeded) as refused:
            shop.reserve([(sku, LOCATION, 1)])
        error = refused.value
        assert isinstance(error, Overloaded)
        assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error.reason == "QUOTA_EXCEEDED"
        assert error.facts["quota"] == "open_holds"
        assert (error.facts["limit"], error.facts["used"], error.facts["requested"]) == (
            "2",
            "2",
            "1",
        )
        assert error.quota_violations == [
            QuotaViolation(f"tenant:{tenant}", "open_holds: at most 2 (used 2, requested 1)")
        ]
        # A cap on holds predicts no delay: no RetryInfo, and the client
        # did not retry it.
        assert error.retry_after is None
        assert error.attempts == 1
        # The error says what happened in words.
        assert "QUOTA_EXCEEDED" in str(error)
        assert f"tenant:{tenant}" in str(error)
        # Nothing was held for the refusal.
        availability = shop.get_availability([sku], [LOCATION])
        assert availability.positions[0].available == 98

        # Another tenant has its own quota.
        neighbour.reserve([(sku, LOCATION, 1)])
        neighbour.reserve([(sku, LOCATION, 1)])

        # Releasing one hold gives its quota back.
        shop.release(first)
        shop.reserve([(sku, LOCATION, 1)])


def test_held_units_are_capped_and_partial_holds_count_what_they_hold(server: Holdfast) -> None:
    sku, scarce = stocked(server), stocked(server, on_hand=3)
    tenant = unique("shop")
    with server.client(tenant) as shop:
        # Eight asked, three there: a partial hold of three fits the cap of ten.
        partial = shop.reserve([(scarce, LOCATION, 8)], allow_partial=True)
        assert partial.decision.reason == reasons_pb2.PARTIALLY_RESERVED
        with pytest.raises(QuotaExceeded) as refused:
            shop.reserve([(sku, LOCATION, 8)])
        assert refused.value.facts["quota"] == "held_units"
        assert (refused.value.facts["used"], refused.value.facts["requested"]) == ("3", "8")
        assert refused.value.quota_violations[0].description.startswith("held_units: at most 10")
        # Exactly up to the cap is allowed.
        hold = shop.reserve([(sku, LOCATION, 7)]).reservation.reservation_id
        # Allocating turns the hold into an order: its units are no longer held.
        shop.allocate(hold)
        shop.reserve([(sku, LOCATION, 1)])


def test_a_raw_stub_reads_the_quota_failure(server: Holdfast) -> None:
    sku = stocked(server)
    tenant = unique("raw")
    metadata = (("x-holdfast-tenant", tenant),)
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)

        def reserve(key: str) -> pb.ReserveResponse:
            request = pb.ReserveRequest(
                idempotency_key=key,
                lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=1)],
            )
            response: pb.ReserveResponse = stub.Reserve(request, metadata=metadata, timeout=30)
            return response

        reserve("k1")
        reserve("k2")
        with pytest.raises(grpc.RpcError) as refused:
            reserve("k3")
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = refusal_details(refused.value)
        assert details["reason"] == "QUOTA_EXCEEDED"
        assert details["violations"] == [
            (f"tenant:{tenant}", "open_holds: at most 2 (used 2, requested 1)")
        ]
        assert details["retry_after"] is None
        # The refusal was a decision: the same key replays it.
        with pytest.raises(grpc.RpcError) as again:
            reserve("k3")
        assert refusal_details(again.value)["violations"] == details["violations"]
