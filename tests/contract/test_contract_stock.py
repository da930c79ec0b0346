"""The contract of warehouse updates on every backend: absolute counts in
source order (a stale one refused), adjustments, counts below what is
committed, and their replays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from contract_support import Position, position, sku_name
from holdfast.client import Client, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons


def test_a_count_sets_on_hand_and_its_sequence(client: Client) -> None:
    sku = sku_name()
    counted = client.set_stock(sku, "W1", 10, source_sequence=3)
    assert counted.decision.reason == reasons.STOCK_SET
    assert counted.decision.owner == pb.OWNER_WAREHOUSE
    assert (counted.position.on_hand, counted.position.source_sequence) == (10, 3)
    recounted = client.set_stock(sku, "W1", 12, source_sequence=4)
    assert recounted.position.on_hand == 12
    shown = client.get_availability([sku]).positions
    assert [(p.sku, p.location, p.on_hand, p.source_sequence) for p in shown] == [
        (sku, "W1", 12, 4)
    ]
    assert position(client, sku) == Position(12, 0, 0, 0, 12)


def test_a_stale_warehouse_count_is_refused(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=5)
    for stale in (5, 4, 1):
        with pytest.raises(Rejected) as refused:
            client.set_stock(sku, "W1", 99, source_sequence=stale)
        assert refused.value.reason == "STALE_UPDATE"
        assert refused.value.facts["applied_sequence"] == "5"
        assert refused.value.facts["source_sequence"] == str(stale)
    shown = client.get_availability([sku]).positions[0]
    assert (shown.on_hand, shown.source_sequence) == (10, 5)
    client.set_stock(sku, "W1", 7, source_sequence=6)
    assert position(client, sku) == Position(7, 0, 0, 0, 7)


def test_counts_are_ordered_per_location(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=9)
    client.set_stock(sku, "W2", 4, source_sequence=2)  # another location's own sequence
    assert position(client, sku, "W1") == Position(10, 0, 0, 0, 10)
    assert position(client, sku, "W2") == Position(4, 0, 0, 0, 4)


def test_a_replayed_count_is_not_stale(client: Client) -> None:
    sku = sku_name()
    at = datetime.now(UTC)  # a retry sends the same request, its as_of included
    first = client.set_stock(sku, "W1", 10, source_sequence=1, as_of=at, idempotency_key=sku)
    again = client.set_stock(sku, "W1", 10, source_sequence=1, as_of=at, idempotency_key=sku)
    assert (first.decision.replayed, again.decision.replayed) == (False, True)
    assert again.decision.reason == reasons.STOCK_SET
    assert position(client, sku) == Position(10, 0, 0, 0, 10)


def test_an_adjustment_moves_on_hand_by_its_delta(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=1)
    client.reserve([(sku, "W1", 3)])
    added = client.adjust_stock(sku, "W1", 5, reason="found a pallet")
    assert added.decision.reason == reasons.STOCK_ADJUSTED
    assert position(client, sku) == Position(15, 3, 0, 0, 12)
    client.adjust_stock(sku, "W1", -2, reason="damaged", idempotency_key=f"{sku}-damaged")
    again = client.adjust_stock(sku, "W1", -2, reason="damaged", idempotency_key=f"{sku}-damaged")
    assert again.decision.replayed
    assert position(client, sku) == Position(13, 3, 0, 0, 10)


def test_a_count_below_commitments_is_answered_overcommitted(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=1)
    client.reserve([(sku, "W1", 8)])
    counted = client.set_stock(sku, "W1", 5, source_sequence=2)
    assert counted.decision.reason == reasons.OVERCOMMITTED
    assert counted.decision.owner == pb.OWNER_WAREHOUSE
    assert counted.position.available == -3
    assert counted.position.HasField("overcommitted_since")
    assert position(client, sku) == Position(5, 8, 0, 0, -3)
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 1)])
    assert refused.value.reason == "INSUFFICIENT_STOCK"
