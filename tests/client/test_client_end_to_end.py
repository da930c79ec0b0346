"""Issue 3's end-to-end checks, through the public client against the real server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from client_harness import ServerProcess
from holdfast.client import AsyncClient, Client, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons

Stock = Callable[..., pb.StockResponse]


def sku_name() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


async def test_200_shoppers_for_50_units_get_exactly_50_holds(
    server: ServerProcess, tenant: str, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 50)
    shoppers = [AsyncClient(server.target, tenant=tenant, timeout=60.0) for _ in range(200)]
    try:
        outcomes = await asyncio.gather(
            *(shopper.reserve([(sku, "W1", 1)]) for shopper in shoppers),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(shopper.close() for shopper in shoppers))
    accepted = [o for o in outcomes if isinstance(o, pb.ReserveResponse)]
    refused = [o for o in outcomes if isinstance(o, Rejected)]
    assert len(accepted) == 50
    assert len(refused) == 150, [o for o in outcomes if isinstance(o, BaseException)][:3]
    assert len({answer.reservation.reservation_id for answer in accepted}) == 50
    for error in refused:
        assert error.reason == "INSUFFICIENT_STOCK"
        assert (error.facts["requested"], error.facts["available"]) == ("1", "0")
    async with AsyncClient(server.target, tenant=tenant) as reader:
        position = (await reader.get_availability([sku])).positions[0]
    assert (position.reserved, position.available) == (50, 0)


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
    assert client.get_availability([sku]).positions[0].reserved == 4


def test_the_same_key_with_another_request_is_refused(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    client.reserve([(sku, "W1", 1)], idempotency_key="one-key")
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 2)], idempotency_key="one-key")
    assert refused.value.reason == "IDEMPOTENCY_KEY_REUSED"
    assert client.get_availability([sku]).positions[0].reserved == 1


async def test_100_concurrent_identical_calls_execute_once(
    aclient: AsyncClient, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 500)
    answers = await asyncio.gather(
        *(aclient.reserve([(sku, "W1", 3)], idempotency_key="same-cart") for _ in range(100))
    )
    assert len({answer.reservation.reservation_id for answer in answers}) == 1
    assert sum(not answer.decision.replayed for answer in answers) == 1
    position = (await aclient.get_availability([sku])).positions[0]
    assert position.reserved == 3


def test_many_lines_are_all_or_nothing(client: Client, stock: Stock) -> None:
    skus = [sku_name() for _ in range(5)]
    for sku in skus:
        stock(sku, "W1", 3)
    lines = [(sku, "W1", 2) for sku in skus[:4]] + [(skus[4], "W1", 4)]
    with pytest.raises(Rejected) as refused:
        client.reserve(lines)
    assert refused.value.reason == "INSUFFICIENT_STOCK"
    assert refused.value.facts["sku"] == skus[4]
    positions = client.get_availability(skus).positions
    assert [p.reserved for p in positions] == [0] * 5

    held = client.reserve([(sku, "W1", 2) for sku in skus])
    assert len(held.reservation.lines) == 5
    assert all(p.reserved == 2 for p in client.get_availability(skus).positions)


def test_partial_mode_holds_what_is_there(client: Client, stock: Stock) -> None:
    plenty, scarce = sku_name(), sku_name()
    stock(plenty, "W1", 10)
    stock(scarce, "W1", 2)
    held = client.reserve([(plenty, "W1", 3), (scarce, "W1", 5)], allow_partial=True)
    assert held.decision.reason == reasons.PARTIALLY_RESERVED
    quantities = {line.sku: line.quantity for line in held.reservation.lines}
    assert quantities == {plenty: 3, scarce: 2}


def test_the_same_sku_on_two_lines_is_guarded_as_one_total(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 5)
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 3), (sku, "W1", 3)])
    assert refused.value.reason == "INSUFFICIENT_STOCK"
    assert (refused.value.facts["requested"], refused.value.facts["available"]) == ("6", "5")
    client.reserve([(sku, "W1", 2), (sku, "W1", 3)])
    assert client.get_availability([sku]).positions[0].available == 0


def test_a_one_second_hold_expires(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 5)
    held = client.reserve([(sku, "W1", 5)], hold_seconds=1)
    reservation_id = held.reservation.reservation_id
    deadline = time.monotonic() + 20.0  # the sweeper runs every 0.05 s; this bounds a slow box
    while client.get_reservation(reservation_id).state != pb.LINE_STATE_EXPIRED:
        assert time.monotonic() < deadline, "the hold never expired"
        time.sleep(0.05)
    expired = client.get_reservation(reservation_id)
    assert expired.history[-1].action == "expire"
    assert expired.history[-1].actor == "holdfast"
    assert expired.history[-1].reason == reasons.HOLD_EXPIRED
    assert client.get_availability([sku]).positions[0].available == 5
    with pytest.raises(Rejected) as refused:
        client.allocate(reservation_id)
    assert refused.value.reason == "RESERVATION_EXPIRED"


# The transition table of docs/core.md: what each state allows.
ALLOWED = {
    "RESERVED": {"allocate", "release", "renew"},
    "ALLOCATED": {"release", "pick"},
    "PICKED": {"unpick", "ship"},
    "SHIPPED": {"return"},
    "RETURNED": set(),
    "RELEASED": set(),
}
# How to bring a fresh reservation into each state, from RESERVED.
PATH = {
    "RESERVED": [],
    "ALLOCATED": ["allocate"],
    "PICKED": ["allocate", "pick"],
    "SHIPPED": ["allocate", "pick", "ship"],
    "RETURNED": ["allocate", "pick", "ship", "return"],
    "RELEASED": ["release"],
}


def act(client: Client, action: str, reservation_id: str) -> pb.ReservationResponse:
    calls: dict[str, Callable[[str], pb.ReservationResponse]] = {
        "allocate": client.allocate,
        "release": client.release,
        "renew": client.renew_hold,
        "pick": client.confirm_pick,
        "unpick": client.unpick,
        "ship": client.confirm_shipment,
        "return": lambda rid: client.record_return(rid, restock=True),
    }
    return calls[action](reservation_id)


@pytest.mark.parametrize("state", list(ALLOWED))
def test_every_invalid_transition_is_refused_naming_the_state(
    client: Client, stock: Stock, state: str
) -> None:
    sku = sku_name()
    stock(sku, "W1", 100)
    forbidden = sorted(
        {"allocate", "release", "renew", "pick", "unpick", "ship", "return"} - ALLOWED[state]
    )
    for action in forbidden:
        reservation_id = client.reserve([(sku, "W1", 1)]).reservation.reservation_id
        for step in PATH[state]:
            act(client, step, reservation_id)
        assert client.get_reservation(reservation_id).state == pb.LineState.Value(
            f"LINE_STATE_{state}"
        )
        with pytest.raises(Rejected) as refused:
            act(client, action, reservation_id)
        error = refused.value
        assert error.reason == "INVALID_TRANSITION", (state, action, error)
        assert error.facts["from"].upper() == state, (action, error.facts)
        assert error.facts["reservation_id"] == reservation_id


def test_a_stale_warehouse_count_is_refused(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=5)
    for stale in (5, 4):
        with pytest.raises(Rejected) as refused:
            client.set_stock(sku, "W1", 99, source_sequence=stale)
        assert refused.value.reason == "STALE_UPDATE"
        assert refused.value.facts["applied_sequence"] == "5"
    position = client.get_availability([sku]).positions[0]
    assert (position.on_hand, position.source_sequence) == (10, 5)


def test_a_count_below_commitments_is_answered_overcommitted(client: Client) -> None:
    sku = sku_name()
    client.set_stock(sku, "W1", 10, source_sequence=1)
    client.reserve([(sku, "W1", 8)])
    counted = client.set_stock(sku, "W1", 5, source_sequence=2)
    assert counted.decision.reason == reasons.OVERCOMMITTED
    assert counted.decision.owner == pb.OWNER_WAREHOUSE
    assert counted.position.available == -3
    assert counted.position.HasField("overcommitted_since")
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 1)])
    assert refused.value.reason == "INSUFFICIENT_STOCK"
