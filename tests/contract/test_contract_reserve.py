"""The contract of Reserve on every backend: all or nothing, replay, key reuse,
many lines, partial holds, and what GetAvailability says after each."""

from __future__ import annotations

import grpc
import pytest
from contract_support import Backend, Position, Stock, position, sku_name
from holdfast.client import Client, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons


def test_a_hold_takes_stock_and_says_so(backend: Backend, client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    assert position(client, sku) == Position(10, 0, 0, 0, 10)
    held = client.reserve([(sku, "W1", 3)], order_ref="order-1", channel="web")
    assert held.decision.reason == reasons.RESERVED
    assert not held.decision.replayed
    assert held.reservation.state == pb.LINE_STATE_RESERVED
    assert held.reservation.order_ref == "order-1"
    assert held.reservation.channel == "web"
    assert [(line.sku, line.location, line.quantity) for line in held.reservation.lines] == [
        (sku, "W1", 3)
    ]
    assert held.reservation.expires_at.seconds > 0
    assert position(client, sku) == Position(10, 3, 0, 0, 7), backend.name


def test_a_shortfall_holds_nothing_and_names_the_line(client: Client, stock: Stock) -> None:
    plenty, scarce = sku_name(), sku_name()
    stock(plenty, "W1", 10)
    stock(scarce, "W1", 2)
    with pytest.raises(Rejected) as refused:
        client.reserve([(plenty, "W1", 4), (scarce, "W1", 5)])
    error = refused.value
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "INSUFFICIENT_STOCK"
    assert error.facts["sku"] == scarce
    assert (error.facts["requested"], error.facts["available"]) == ("5", "2")
    # All or nothing: the line that fitted took nothing either.
    assert position(client, plenty) == Position(10, 0, 0, 0, 10)
    assert position(client, scarce) == Position(2, 0, 0, 0, 2)


def test_the_same_sku_on_two_lines_is_guarded_as_one_total(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 5)
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 3), (sku, "W1", 3)])
    assert refused.value.reason == "INSUFFICIENT_STOCK"
    assert (refused.value.facts["requested"], refused.value.facts["available"]) == ("6", "5")
    client.reserve([(sku, "W1", 2), (sku, "W1", 3)])
    assert position(client, sku) == Position(5, 5, 0, 0, 0)


def test_an_unknown_sku_is_refused(client: Client) -> None:
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku_name("NOPE"), "W1", 1)])
    assert refused.value.reason == "UNKNOWN_SKU"


def test_holdfast_chooses_the_location_with_the_most_available(
    client: Client, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 2)
    stock(sku, "W2", 6)
    held = client.reserve([(sku, "", 4)])
    assert held.reservation.lines[0].location == "W2"
    assert position(client, sku, "W2") == Position(6, 4, 0, 0, 2)
    assert position(client, sku, "W1") == Position(2, 0, 0, 0, 2)


def test_a_replay_returns_the_first_outcome_and_moves_stock_once(
    client: Client, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    first = client.reserve([(sku, "W1", 4)], idempotency_key="replay-me")
    again = client.reserve([(sku, "W1", 4)], idempotency_key="replay-me")
    assert again.reservation.reservation_id == first.reservation.reservation_id
    assert not first.decision.replayed
    assert again.decision.replayed
    assert again.decision.reason == first.decision.reason == reasons.RESERVED
    assert position(client, sku) == Position(10, 4, 0, 0, 6)


def test_a_replayed_transition_moves_stock_once(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    reservation_id = client.reserve([(sku, "W1", 4)]).reservation.reservation_id
    first = client.allocate(reservation_id, idempotency_key="allocate-once")
    again = client.allocate(reservation_id, idempotency_key="allocate-once")
    assert (first.decision.replayed, again.decision.replayed) == (False, True)
    assert again.decision.reason == reasons.ALLOCATED
    assert again.reservation.state == pb.LINE_STATE_ALLOCATED
    assert position(client, sku) == Position(10, 0, 4, 0, 6)
    assert [h.action for h in client.get_reservation(reservation_id).history] == [
        "reserve",
        "allocate",
    ]


def test_the_same_key_with_another_request_is_refused(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    client.reserve([(sku, "W1", 1)], idempotency_key="one-key")
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 2)], idempotency_key="one-key")
    assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert position(client, sku) == Position(10, 1, 0, 0, 9)


def test_keys_belong_to_their_tenant(backend: Backend, client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    mine = client.reserve([(sku, "W1", 1)], idempotency_key="shared-key")
    with Client(backend.target, tenant=f"other-{sku}", actor="contract") as other:
        # Another tenant's key is another key: decided anew, not a reuse.
        theirs = other.reserve([(sku, "W1", 2)], idempotency_key="shared-key")
        assert not theirs.decision.replayed
        assert theirs.reservation.reservation_id != mine.reservation.reservation_id
        assert position(other, sku) == Position(10, 3, 0, 0, 7)


def test_many_lines_in_one_reservation_are_all_or_nothing(client: Client, stock: Stock) -> None:
    skus = [sku_name() for _ in range(12)]
    for index, sku in enumerate(skus):
        stock(sku, "W1", 3)
        stock(sku, "W2", 1 + index % 2)
    too_many = [(sku, "W1", 2) for sku in skus[:-1]] + [(skus[-1], "W2", 3)]
    with pytest.raises(Rejected) as refused:
        client.reserve(too_many)
    assert refused.value.reason == "INSUFFICIENT_STOCK"
    assert refused.value.facts["sku"] == skus[-1]
    assert all(position(client, sku) == Position(3, 0, 0, 0, 3) for sku in skus)

    lines = [(sku, "W1", 2) for sku in skus] + [(sku, "W2", 1) for sku in skus]
    held = client.reserve(lines)
    assert len(held.reservation.lines) == 24
    assert {(line.sku, line.location, line.quantity) for line in held.reservation.lines} == set(
        lines
    )
    for index, sku in enumerate(skus):
        assert position(client, sku, "W1") == Position(3, 2, 0, 0, 1)
        on_hand = 1 + index % 2
        assert position(client, sku, "W2") == Position(on_hand, 1, 0, 0, on_hand - 1)
    shown = client.get_reservation(held.reservation.reservation_id)
    assert len(shown.lines) == 24
    assert all(line.state == pb.LINE_STATE_RESERVED for line in shown.lines)

    released = client.release(held.reservation.reservation_id)
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert all(position(client, sku, "W1") == Position(3, 0, 0, 0, 3) for sku in skus)


def test_partial_mode_holds_what_is_there(client: Client, stock: Stock) -> None:
    plenty, scarce, empty = sku_name(), sku_name(), sku_name()
    stock(plenty, "W1", 10)
    stock(scarce, "W1", 2)
    stock(empty, "W1", 0)
    held = client.reserve(
        [(plenty, "W1", 3), (scarce, "W1", 5), (empty, "W1", 1)], allow_partial=True
    )
    assert held.decision.reason == reasons.PARTIALLY_RESERVED
    quantities = {line.sku: line.quantity for line in held.reservation.lines if line.quantity}
    assert quantities == {plenty: 3, scarce: 2}
    assert position(client, plenty) == Position(10, 3, 0, 0, 7)
    assert position(client, scarce) == Position(2, 2, 0, 0, 0)
    assert position(client, empty) == Position(0, 0, 0, 0, 0)


def test_partial_mode_with_everything_there_is_a_plain_hold(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    held = client.reserve([(sku, "W1", 3)], allow_partial=True)
    assert held.decision.reason == reasons.RESERVED
    assert position(client, sku) == Position(10, 3, 0, 0, 7)
