"""The contract of every transition on every backend: what each does to the
reservation, its history and GetAvailability, and what each state refuses."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from contract_support import Position, Stock, position, sku_name
from holdfast.client import Client, NotFound, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons


def test_reserve_allocate_pick_ship_return_with_history_and_positions(
    client: Client, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    held = client.reserve([(sku, "W1", 4)], idempotency_key=f"{sku}-reserve")
    rid = held.reservation.reservation_id
    assert position(client, sku) == Position(10, 4, 0, 0, 6)

    steps: list[tuple[str, Callable[[str], pb.ReservationResponse], int, int, Position]] = [
        (
            "allocate",
            lambda key: client.allocate(rid, idempotency_key=key),
            reasons.ALLOCATED,
            pb.LINE_STATE_ALLOCATED,
            Position(10, 0, 4, 0, 6),
        ),
        (
            "pick",
            lambda key: client.confirm_pick(rid, idempotency_key=key),
            reasons.PICKED,
            pb.LINE_STATE_PICKED,
            Position(10, 0, 0, 4, 6),
        ),
        (
            "ship",
            lambda key: client.confirm_shipment(rid, idempotency_key=key),
            reasons.SHIPPED,
            pb.LINE_STATE_SHIPPED,
            Position(6, 0, 0, 0, 6),
        ),
        (
            "return",
            lambda key: client.record_return(rid, restock=True, idempotency_key=key),
            reasons.RETURNED,
            pb.LINE_STATE_RETURNED,
            Position(10, 0, 0, 0, 10),
        ),
    ]
    for action, call, reason, state, after in steps:
        answer = call(f"{sku}-{action}")
        assert answer.decision.reason == reason, action
        assert answer.reservation.state == state, action
        assert all(line.state == state for line in answer.reservation.lines), action
        assert position(client, sku) == after, action
        shown = client.get_reservation(rid)
        assert shown.state == state, action
        assert shown.history[-1].action == action

    history = client.get_reservation(rid).history
    assert [h.action for h in history] == ["reserve", "allocate", "pick", "ship", "return"]
    assert [(h.from_state, h.to_state) for h in history[1:]] == [
        (pb.LINE_STATE_RESERVED, pb.LINE_STATE_ALLOCATED),
        (pb.LINE_STATE_ALLOCATED, pb.LINE_STATE_PICKED),
        (pb.LINE_STATE_PICKED, pb.LINE_STATE_SHIPPED),
        (pb.LINE_STATE_SHIPPED, pb.LINE_STATE_RETURNED),
    ]
    assert history[0].to_state == pb.LINE_STATE_RESERVED
    assert [h.reason for h in history] == [
        reasons.RESERVED,
        reasons.ALLOCATED,
        reasons.PICKED,
        reasons.SHIPPED,
        reasons.RETURNED,
    ]
    assert [h.idempotency_key for h in history] == [
        f"{sku}-{action}" for action in ("reserve", "allocate", "pick", "ship", "return")
    ]
    assert {h.actor for h in history} == {"contract"}
    stamps = [h.at.ToNanoseconds() for h in history]
    assert stamps == sorted(stamps)


def test_a_return_not_restocked_is_written_off(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 3)]).reservation.reservation_id
    client.allocate(rid)
    client.confirm_pick(rid)
    client.confirm_shipment(rid)
    assert position(client, sku) == Position(7, 0, 0, 0, 7)
    returned = client.record_return(rid, restock=False)
    assert returned.decision.reason == reasons.RETURNED
    assert position(client, sku) == Position(7, 0, 0, 0, 7)


def test_release_from_reserved_gives_the_hold_back(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 4)]).reservation.reservation_id
    released = client.release(rid, note="changed their mind")
    assert released.decision.reason == reasons.RELEASED
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert position(client, sku) == Position(10, 0, 0, 0, 10)
    history = client.get_reservation(rid).history
    assert [h.action for h in history] == ["reserve", "release"]
    assert (history[-1].from_state, history[-1].to_state) == (
        pb.LINE_STATE_RESERVED,
        pb.LINE_STATE_RELEASED,
    )


def test_release_from_allocated_gives_the_commitment_back(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 4)]).reservation.reservation_id
    client.allocate(rid)
    assert position(client, sku) == Position(10, 0, 4, 0, 6)
    released = client.release(rid)
    assert released.decision.reason == reasons.RELEASED
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert position(client, sku) == Position(10, 0, 0, 0, 10)
    history = client.get_reservation(rid).history
    assert [h.action for h in history] == ["reserve", "allocate", "release"]
    assert (history[-1].from_state, history[-1].to_state) == (
        pb.LINE_STATE_ALLOCATED,
        pb.LINE_STATE_RELEASED,
    )


def test_unpick_puts_picked_units_back_to_allocated(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 4)]).reservation.reservation_id
    client.allocate(rid)
    client.confirm_pick(rid)
    assert position(client, sku) == Position(10, 0, 0, 4, 6)
    unpicked = client.unpick(rid)
    assert unpicked.decision.reason == reasons.UNPICKED
    assert unpicked.reservation.state == pb.LINE_STATE_ALLOCATED
    assert position(client, sku) == Position(10, 0, 4, 0, 6)
    client.confirm_pick(rid)
    client.confirm_shipment(rid)
    assert position(client, sku) == Position(6, 0, 0, 0, 6)
    assert [h.action for h in client.get_reservation(rid).history] == [
        "reserve",
        "allocate",
        "pick",
        "unpick",
        "pick",
        "ship",
    ]


def test_renew_moves_the_expiry_later(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    held = client.reserve([(sku, "W1", 2)], hold_seconds=60)
    rid = held.reservation.reservation_id
    renewed = client.renew_hold(rid, hold_seconds=600)
    assert renewed.decision.reason == reasons.HOLD_RENEWED
    assert renewed.reservation.state == pb.LINE_STATE_RESERVED
    assert renewed.reservation.expires_at.seconds >= held.reservation.expires_at.seconds + 500
    shown = client.get_reservation(rid)
    assert shown.expires_at == renewed.reservation.expires_at
    assert [h.action for h in shown.history] == ["reserve", "renew_hold"]
    assert position(client, sku) == Position(10, 2, 0, 0, 8)


def test_allocating_some_lines_releases_the_rest(client: Client, stock: Stock) -> None:
    kept, dropped = sku_name(), sku_name()
    stock(kept, "W1", 10)
    stock(dropped, "W1", 10)
    rid = client.reserve([(kept, "W1", 5), (dropped, "W1", 2)]).reservation.reservation_id
    allocated = client.allocate(rid, [(kept, "W1", 3)])
    assert allocated.decision.reason == reasons.ALLOCATED
    assert position(client, kept) == Position(10, 0, 3, 0, 7)
    assert position(client, dropped) == Position(10, 0, 0, 0, 10)


def test_allocating_more_than_is_held_is_refused(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 2)]).reservation.reservation_id
    with pytest.raises(Rejected) as refused:
        client.allocate(rid, [(sku, "W1", 3)])
    assert refused.value.reason == "QUANTITY_EXCEEDS_RESERVATION"
    assert position(client, sku) == Position(10, 2, 0, 0, 8)
    assert client.get_reservation(rid).state == pb.LINE_STATE_RESERVED


def test_an_unknown_reservation_is_not_found(client: Client) -> None:
    unknown = str(uuid.uuid4())
    with pytest.raises(NotFound) as missing:
        client.get_reservation(unknown)
    assert missing.value.code == grpc.StatusCode.NOT_FOUND
    with pytest.raises(NotFound) as missing_allocate:
        client.allocate(unknown)
    assert missing_allocate.value.reason == "RESERVATION_NOT_FOUND"


def test_another_tenants_reservation_is_not_found(
    client: Client, stock: Stock, tenant: str
) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    rid = client.reserve([(sku, "W1", 1)]).reservation.reservation_id
    with Client(client.target, tenant=f"{tenant}-other") as other:
        with pytest.raises(NotFound):
            other.get_reservation(rid)
        with pytest.raises(NotFound):
            other.release(rid)
    assert position(client, sku) == Position(10, 1, 0, 0, 9)


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
ACTIONS = {"allocate", "release", "renew", "pick", "unpick", "ship", "return"}


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
def test_every_refused_transition_names_the_state_and_changes_nothing(
    client: Client, stock: Stock, state: str
) -> None:
    sku = sku_name()
    stock(sku, "W1", 100)
    rid = client.reserve([(sku, "W1", 1)]).reservation.reservation_id
    for step in PATH[state]:
        act(client, step, rid)
    before = client.get_reservation(rid)
    assert before.state == pb.LineState.Value(f"LINE_STATE_{state}")
    counts = position(client, sku)
    for action in sorted(ACTIONS - ALLOWED[state]):
        with pytest.raises(Rejected) as refused:
            act(client, action, rid)
        error = refused.value
        assert error.reason == "INVALID_TRANSITION", (state, action, error)
        assert error.facts["from"].upper() == state, (action, error.facts)
        assert error.facts["reservation_id"] == rid
        assert position(client, sku) == counts, action
    after = client.get_reservation(rid)
    assert after.state == before.state
    assert list(after.history) == list(before.history)
