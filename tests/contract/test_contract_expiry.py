"""The contract of hold expiry on every backend: the sweeper expires a due
hold with no request touching it, its stock comes back, and it is refused
afterwards; a renewed hold outlives one that was not."""

from __future__ import annotations

import pytest
from contract_support import Position, Stock, position, sku_name, wait_for_state
from holdfast.client import Client, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons


def test_a_one_second_hold_expires_and_gives_its_stock_back(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 5)
    held = client.reserve([(sku, "W1", 5)], hold_seconds=1)
    rid = held.reservation.reservation_id
    assert position(client, sku) == Position(5, 5, 0, 0, 0)
    expired = wait_for_state(client, rid, pb.LINE_STATE_EXPIRED)
    assert [h.action for h in expired.history] == ["reserve", "expire"]
    last = expired.history[-1]
    assert (last.from_state, last.to_state) == (pb.LINE_STATE_RESERVED, pb.LINE_STATE_EXPIRED)
    assert last.actor == "holdfast"
    assert last.reason == reasons.HOLD_EXPIRED
    assert all(line.state == pb.LINE_STATE_EXPIRED for line in expired.lines)
    assert position(client, sku) == Position(5, 0, 0, 0, 5)
    with pytest.raises(Rejected) as refused:
        client.allocate(rid)
    assert refused.value.reason == "RESERVATION_EXPIRED"
    with pytest.raises(Rejected) as refused_renew:
        client.renew_hold(rid, hold_seconds=60)
    assert refused_renew.value.reason in {"RESERVATION_EXPIRED", "INVALID_TRANSITION"}
    assert position(client, sku) == Position(5, 0, 0, 0, 5)
    # The stock it gave back can be held again.
    client.reserve([(sku, "W1", 5)])
    assert position(client, sku) == Position(5, 5, 0, 0, 0)


def test_a_renewed_hold_outlives_one_that_was_not_renewed(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    left = client.reserve([(sku, "W1", 2)], hold_seconds=1).reservation.reservation_id
    kept = client.reserve([(sku, "W1", 3)], hold_seconds=1).reservation.reservation_id
    client.renew_hold(kept, hold_seconds=600)
    wait_for_state(client, left, pb.LINE_STATE_EXPIRED)
    # Both were due at the same moment; only the renewed one is still held.
    assert client.get_reservation(kept).state == pb.LINE_STATE_RESERVED
    assert position(client, sku) == Position(10, 3, 0, 0, 7)
    allocated = client.allocate(kept)
    assert allocated.reservation.state == pb.LINE_STATE_ALLOCATED


def test_an_allocated_reservation_does_not_expire(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    committed = client.reserve([(sku, "W1", 4)], hold_seconds=1).reservation.reservation_id
    client.allocate(committed)
    witness = client.reserve([(sku, "W1", 1)], hold_seconds=1).reservation.reservation_id
    wait_for_state(client, witness, pb.LINE_STATE_EXPIRED)
    assert client.get_reservation(committed).state == pb.LINE_STATE_ALLOCATED
    assert position(client, sku) == Position(10, 0, 4, 0, 6)
