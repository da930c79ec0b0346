"""The behaviours the design names, through the public package.

Shortfall, one total per SKU, partial holds, replay, reversal, expiry at the
due time, malformed input, tenancy, stale and overcommitting warehouse facts,
batches, journal replay and snapshots, the reason catalogue. Time is data:
every call gets its `now`; nothing sleeps.
"""

from __future__ import annotations

import itertools
from typing import Any

import holdfast
import pytest

NOW = 1_700_000_000_000
HOLD_MS = 60_000
# (sku, location) -> on hand at the start of every test.
STOCK = {("A", "L1"): 10, ("A", "L2"): 4, ("B", "L1"): 5}

_keys = itertools.count(1)


def key() -> str:
    return f"key-{next(_keys)}"


def stocked_engine(**config: Any) -> holdfast.Engine:
    engine = holdfast.Engine(default_hold_ms=HOLD_MS, **config)
    for sequence, ((sku, location), on_hand) in enumerate(STOCK.items(), start=1):
        count = engine.set_stock(
            "t1", f"count-{sequence}", "wms", NOW, sku, location, on_hand, sequence
        )
        assert count.accepted
    return engine


@pytest.fixture
def engine() -> holdfast.Engine:
    return stocked_engine()


def reserve(engine, lines, *, tenant="t1", now=NOW, idempotency_key="", **options):
    return engine.reserve(
        tenant, idempotency_key or key(), "shop", now, "order-1", "web", lines, **options
    )


def buckets(engine, sku="A", location="L1") -> dict[str, int]:
    view = engine.position(sku, location)
    names = ("on_hand", "reserved", "allocated", "picked", "available")
    return {name: view[name] for name in names}


def facts(outcome) -> tuple[Any, ...]:
    rejection = outcome.rejection
    return (
        outcome.accepted,
        outcome.reason,
        outcome.replayed,
        outcome.owner,
        outcome.decided_at,
        outcome.reservation_id,
        outcome.position,
        None if rejection is None else (rejection.reason, rejection.facts),
    )


# --- reserving


def test_a_shortfall_rejects_the_whole_reservation_with_the_available_quantity(engine):
    outcome = reserve(engine, [("A", "L1", 3), ("B", "L1", 6)])

    assert not outcome.accepted
    assert outcome.reason == "INSUFFICIENT_STOCK"
    assert outcome.rejection.facts == {"sku": "B", "location": "L1", "requested": 6, "available": 5}
    assert holdfast.REASONS["INSUFFICIENT_STOCK"].grpc_status == "FAILED_PRECONDITION"
    assert buckets(engine)["reserved"] == 0, "all or nothing: the A line holds nothing either"
    assert engine.reservation_count() == 0


def test_the_same_sku_on_two_lines_is_guarded_as_one_total(engine):
    too_many = reserve(engine, [("A", "L1", 6), ("A", "L1", 6)])
    assert too_many.rejection.facts == {
        "sku": "A",
        "location": "L1",
        "requested": 12,
        "available": 10,
    }

    # A line without location counts against the position it is given too.
    mixed = reserve(engine, [("A", "", 8), ("A", "L1", 3)])
    assert mixed.rejection.facts["requested"] == 3
    assert mixed.rejection.facts["available"] == 2

    exactly = reserve(engine, [("A", "L1", 5), ("A", "L1", 5)])
    assert exactly.reason == "RESERVED"
    lines = engine.reservation("t1", exactly.reservation_id)["lines"]
    assert [(line["quantity"], line["state"]) for line in lines] == [(5, "RESERVED")] * 2
    assert buckets(engine) == {
        "on_hand": 10,
        "reserved": 10,
        "allocated": 0,
        "picked": 0,
        "available": 0,
    }


def test_an_empty_location_takes_the_position_with_the_most_available(engine):
    outcome = reserve(engine, [("A", "", 3)])
    assert engine.reservation("t1", outcome.reservation_id)["lines"][0]["location"] == "L1"


def test_a_partial_reservation_holds_what_there_is(engine):
    outcome = reserve(engine, [("A", "L1", 12), ("B", "L1", 2)], allow_partial=True)

    assert outcome.accepted
    assert outcome.reason == "PARTIALLY_RESERVED"
    lines = engine.reservation("t1", outcome.reservation_id)["lines"]
    assert [(line["sku"], line["quantity"]) for line in lines] == [("A", 10), ("B", 2)]

    nothing_left = reserve(engine, [("A", "L1", 1)], allow_partial=True)
    assert nothing_left.reason == "INSUFFICIENT_STOCK"
    assert nothing_left.rejection.facts["available"] == 0


def test_unknown_sku_and_location_are_named(engine):
    assert reserve(engine, [("Z", "L1", 1)]).rejection.facts == {"sku": "Z"}
    assert reserve(engine, [("A", "L9", 1)]).rejection.facts == {"location": "L9"}
    assert reserve(engine, [("Z", "L1", 1)]).reason == "UNKNOWN_SKU"
    assert reserve(engine, [("A", "L9", 1)]).reason == "UNKNOWN_LOCATION"


# --- idempotency


def test_a_replay_returns_the_same_outcome_with_no_second_effect(engine):
    first = reserve(engine, [("A", "L1", 4)], idempotency_key="cart-7")
    engine.drain_journal()
    before = buckets(engine)

    later, other_actor = NOW + 5_000, "retrying-shop"
    again = engine.reserve("t1", "cart-7", other_actor, later, "order-1", "web", [("A", "L1", 4)])

    assert again.replayed
    assert facts(again)[:2] == facts(first)[:2]
    assert facts(again)[3:] == facts(first)[3:], "same id, same decision time"
    assert buckets(engine) == before
    assert engine.reservation_count() == 1
    assert engine.drain_journal() == [], "nothing new in the journal"


def test_a_business_rejection_is_remembered_and_replayed(engine):
    short = reserve(engine, [("A", "L1", 11)], idempotency_key="cart-8")
    engine.adjust_stock("t1", key(), "wms", NOW, "A", "L1", 5, "found more")

    again = reserve(engine, [("A", "L1", 11)], idempotency_key="cart-8", now=NOW + 1)

    assert again.replayed
    assert again.reason == "INSUFFICIENT_STOCK"
    assert again.rejection.facts == short.rejection.facts


def test_a_key_reused_for_another_request_is_refused_and_not_stored(engine):
    first = reserve(engine, [("A", "L1", 1)], idempotency_key="cart-9")
    other = reserve(engine, [("A", "L1", 2)], idempotency_key="cart-9")

    assert other.reason == "IDEMPOTENCY_KEY_REUSED"
    assert other.rejection.facts == {"idempotency_key": "cart-9"}
    assert not other.replayed
    repeat = reserve(engine, [("A", "L1", 1)], idempotency_key="cart-9")
    assert repeat.replayed
    assert repeat.reservation_id == first.reservation_id


def test_a_key_is_free_again_after_its_retention():
    engine = stocked_engine(idempotency_retention_ms=1_000)
    first = reserve(engine, [("A", "L1", 1)], idempotency_key="k")
    within = reserve(engine, [("A", "L1", 1)], idempotency_key="k", now=NOW + 999)
    after = reserve(engine, [("A", "L1", 1)], idempotency_key="k", now=NOW + 1_000)

    assert within.replayed
    assert not after.replayed
    assert after.reservation_id != first.reservation_id
    keys_before = engine.idempotency_key_count()
    assert engine.purge_idempotency(NOW + 1_001 + 1_000) == keys_before


# --- reversal: undoing a commitment gives back exactly what it took


def _ship(engine, rid, now):
    return engine.confirm_shipment("t1", key(), "wms", now, rid, [], now)


REVERSALS = {
    "release a hold": ["release"],
    "release an allocation": ["allocate", "release"],
    "unpick, then release": ["allocate", "confirm_pick", "unpick", "release"],
    "return with restock": ["allocate", "confirm_pick", "confirm_shipment", "record_return"],
}


@pytest.mark.parametrize("steps", REVERSALS.values(), ids=REVERSALS.keys())
def test_a_reversal_restores_availability_exactly(engine, steps):
    before = buckets(engine)
    rid = reserve(engine, [("A", "L1", 3), ("A", "L1", 2)]).reservation_id
    assert buckets(engine)["available"] == before["available"] - 5

    for step in steps:
        outcome = getattr(engine, step)("t1", key(), "actor", NOW + 1, rid)
        assert outcome.accepted, (step, outcome)

    assert buckets(engine) == before
    engine.check_invariants()


def test_a_return_without_restock_writes_the_units_off(engine):
    rid = reserve(engine, [("A", "L1", 3)]).reservation_id
    for step in ("allocate", "confirm_pick", "confirm_shipment"):
        assert getattr(engine, step)("t1", key(), "wms", NOW, rid).accepted
    returned = engine.record_return("t1", key(), "wms", NOW, rid, [], False)

    assert returned.reason == "RETURNED"
    assert engine.reservation("t1", rid)["state"] == "RETURNED"
    assert buckets(engine)["on_hand"] == 7


def test_a_partial_allocation_splits_lines_and_releases_the_rest(engine):
    rid = reserve(engine, [("A", "L1", 5), ("B", "L1", 2)]).reservation_id

    allocated = engine.allocate("t1", key(), "shop", NOW, rid, [("A", "", 3)])

    assert allocated.reason == "ALLOCATED"
    lines = engine.reservation("t1", rid)["lines"]
    assert [(x["sku"], x["quantity"], x["state"]) for x in lines] == [
        ("A", 2, "RELEASED"),
        ("B", 2, "RELEASED"),
        ("A", 3, "ALLOCATED"),
    ]
    assert buckets(engine)["available"] == 7
    assert buckets(engine, "B")["available"] == 5


def test_an_impossible_transition_is_refused_with_the_state(engine):
    rid = reserve(engine, [("A", "L1", 3)]).reservation_id
    engine.release("t1", key(), "shop", NOW, rid)

    outcome = engine.confirm_pick("t1", key(), "wms", NOW, rid)

    assert outcome.reason == "INVALID_TRANSITION"
    assert outcome.rejection.facts["reservation_id"] == rid
    one = reserve(engine, [("A", "L1", 1)]).reservation_id
    too_much = engine.allocate("t1", key(), "shop", NOW, one, [("A", "L1", 2)])
    assert too_much.reason == "QUANTITY_EXCEEDS_RESERVATION"
    assert (too_much.rejection.facts["requested"], too_much.rejection.facts["eligible"]) == (2, 1)


def test_shipping_more_than_on_hand_is_refused(engine):
    rid = reserve(engine, [("A", "L1", 3)]).reservation_id
    engine.allocate("t1", key(), "shop", NOW, rid)
    engine.confirm_pick("t1", key(), "wms", NOW, rid)
    engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 2, 100)

    outcome = _ship(engine, rid, NOW)

    assert outcome.reason == "INSUFFICIENT_ON_HAND"
    assert outcome.rejection.facts == {"sku": "A", "location": "L1", "on_hand": 2, "delta": -3}


# --- expiry


def test_a_hold_expires_at_its_due_time(engine):
    rid = reserve(engine, [("A", "L1", 4)]).reservation_id
    due = NOW + HOLD_MS
    assert engine.reservation("t1", rid)["expires_at"] == due

    assert engine.expire_due(due - 1) == []
    assert engine.reservation("t1", rid)["state"] == "RESERVED"
    assert engine.expire_due(due) == [rid]

    view = engine.reservation("t1", rid)
    assert view["state"] == "EXPIRED"
    assert view["history"][-1]["at"] == due
    assert view["history"][-1]["actor"] == holdfast.SYSTEM_ACTOR
    assert view["history"][-1]["idempotency_key"] is None
    assert buckets(engine)["available"] == 10
    assert engine.expire_due(due + 1) == []


def test_every_request_expires_due_holds_first_and_records_the_due_time(engine):
    rid = reserve(engine, [("A", "L1", 10)]).reservation_id
    late = NOW + HOLD_MS + 30_000

    # The next request, whenever it comes, finds the stock free again.
    assert reserve(engine, [("A", "L1", 10)], now=late).accepted
    assert engine.reservation("t1", rid)["history"][-1]["at"] == NOW + HOLD_MS

    outcome = engine.allocate("t1", key(), "shop", late, rid)
    assert outcome.reason == "RESERVATION_EXPIRED"
    assert outcome.rejection.facts == {"reservation_id": rid, "expired_at": NOW + HOLD_MS}


def test_a_renewed_hold_expires_at_its_new_time(engine):
    rid = reserve(engine, [("A", "L1", 4)]).reservation_id
    renewed = engine.renew_hold("t1", key(), "shop", NOW + 50_000, rid, 20)

    assert renewed.reason == "HOLD_RENEWED"
    assert engine.expire_due(NOW + HOLD_MS) == []
    assert engine.expire_due(NOW + 70_000) == [rid]


# --- malformed input

INVALID = [
    ("lines[1].quantity", [("A", "L1", 1), ("A", "L1", 0)], {}),
    ("lines[0].sku", [("", "L1", 1)], {}),
    ("lines[2].location", [("A", "L1", 1), ("A", "L1", 1), ("A", "L\t1", 1)], {}),
    ("lines", [], {}),
    ("lines", [("A", "L1", 1)] * (holdfast.MAX_LINES + 1), {}),
    ("lines[0].quantity", [("A", "L1", holdfast.MAX_LINE_QUANTITY + 1)], {}),
    ("tenant", [("A", "L1", 1)], {"tenant": ""}),
    ("now", [("A", "L1", 1)], {"now": -1}),
    ("order_ref", [("A", "L1", 1)], {"order_ref": "x" * (holdfast.MAX_NAME_BYTES + 1)}),
]


@pytest.mark.parametrize(("field", "lines", "override"), INVALID, ids=[i[0] for i in INVALID])
def test_invalid_input_names_the_field_and_stores_nothing(engine, field, lines, override):
    engine.drain_journal()
    keys_before = engine.idempotency_key_count()
    request = {"tenant": "t1", "now": NOW, "order_ref": "o", **override}

    tenant, now, order_ref = request["tenant"], request["now"], request["order_ref"]
    outcome = engine.reserve(tenant, "cart-1", "shop", now, order_ref, "web", lines)

    assert outcome.reason == "INVALID_ARGUMENT"
    assert outcome.rejection.facts["field"] == field
    assert holdfast.REASONS["INVALID_ARGUMENT"].grpc_status == "INVALID_ARGUMENT"
    assert engine.idempotency_key_count() == keys_before
    assert engine.drain_journal() == []
    assert engine.reservation_count() == 0
    valid = engine.reserve("t1", "cart-1", "shop", NOW, "o", "web", [("A", "L1", 1)])
    assert valid.reason == "RESERVED"
    assert not valid.replayed


def test_invalid_ids_and_facts_name_their_field(engine):
    not_an_id = engine.allocate("t1", key(), "shop", NOW, "not-a-uuid")
    no_delta = engine.adjust_stock("t1", key(), "wms", NOW, "A", "L1", 0, "count")
    no_location = engine.set_stock("t1", key(), "wms", NOW, "A", "", 1, 99)

    assert not_an_id.rejection.facts["field"] == "reservation_id"
    assert no_delta.rejection.facts["field"] == "delta"
    assert no_location.rejection.facts["field"] == "location"


# --- tenancy


def test_another_tenants_reservation_is_not_found(engine):
    rid = reserve(engine, [("A", "L1", 2)], tenant="t1").reservation_id

    outcome = engine.release("t2", key(), "shop", NOW, rid)

    assert outcome.reason == "RESERVATION_NOT_FOUND"
    assert outcome.rejection.facts == {"reservation_id": rid}
    assert holdfast.REASONS["RESERVATION_NOT_FOUND"].grpc_status == "NOT_FOUND"
    assert engine.reservation("t2", rid) is None
    assert engine.reservation("t1", rid)["state"] == "RESERVED"


def test_the_same_key_used_by_two_tenants_does_not_collide(engine):
    first = reserve(engine, [("A", "L1", 2)], tenant="t1", idempotency_key="cart-1")
    second = reserve(engine, [("A", "L1", 2)], tenant="t2", idempotency_key="cart-1")

    assert not second.replayed
    assert second.reservation_id != first.reservation_id
    assert buckets(engine)["reserved"] == 4


# --- warehouse facts


def test_an_older_count_is_a_stale_update_and_changes_nothing(engine):
    assert engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 8, 50).reason == "STOCK_SET"

    for sequence in (50, 49):
        stale = engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 3, sequence)
        assert stale.reason == "STALE_UPDATE"
        assert stale.rejection.facts["source_sequence"] == sequence
        assert stale.rejection.facts["applied_sequence"] == 50
    assert buckets(engine)["on_hand"] == 8
    assert engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 3, 51).accepted


def test_a_count_below_commitments_is_applied_and_surfaced_as_overcommitted(engine):
    rid = reserve(engine, [("A", "L1", 8)]).reservation_id

    count = engine.set_stock("t1", key(), "wms", NOW + 1, "A", "L1", 5, 99)

    assert count.accepted
    assert count.reason == "OVERCOMMITTED"
    assert count.position == ("A", "L1")
    assert buckets(engine) == {
        "on_hand": 5,
        "reserved": 8,
        "allocated": 0,
        "picked": 0,
        "available": -3,
    }
    [open_exception] = engine.overcommitted()
    assert (open_exception["sku"], open_exception["location"]) == ("A", "L1")
    assert open_exception["overcommitted_since"] == NOW + 1
    assert reserve(engine, [("A", "L1", 1)]).rejection.facts["available"] == 0

    engine.release("t1", key(), "shop", NOW + 2, rid)
    assert engine.overcommitted() == []
    assert engine.position("A", "L1")["overcommitted_since"] is None


def test_adjustments_and_safety_stock(engine):
    down = engine.adjust_stock("t1", key(), "wms", NOW, "A", "L1", -11, "damaged")
    assert down.reason == "INSUFFICIENT_ON_HAND"
    assert down.rejection.facts == {"sku": "A", "location": "L1", "on_hand": 10, "delta": -11}

    assert engine.adjust_stock("t1", key(), "wms", NOW, "A", "L1", -4, "damaged").accepted
    assert engine.set_safety_stock("t1", key(), "ops", NOW, "A", "L1", 2).accepted
    assert buckets(engine)["available"] == 4
    assert reserve(engine, [("A", "L1", 5)]).rejection.facts["available"] == 4
    assert engine.set_safety_stock("t1", key(), "ops", NOW, "A", "L1", 7).reason == "OVERCOMMITTED"


# --- batch, journal and snapshots


def scripted_requests(rid: str) -> list[tuple[Any, ...]]:
    return [
        ("reserve", "t1", "b1", "shop", NOW, "o", "web", [("A", "L1", 3)], 0, False),
        ("reserve", "t2", "b2", "shop", NOW, "o", "web", [("A", "", 20)], 0, True),
        ("reserve", "t1", "b3", "shop", NOW, "o", "web", [("B", "L1", 9)], 0, False),
        ("set_stock", "t1", "b4", "wms", NOW + 1, "A", "L1", 2, 99, NOW),
        ("adjust_stock", "t1", "b5", "wms", NOW + 2, "B", "L1", 4, "found"),
        ("set_safety_stock", "t1", "b6", "ops", NOW + 2, "B", "L1", 1),
        ("reserve", "t1", "b1", "shop", NOW + 3, "o", "web", [("A", "L1", 3)], 0, False),
        ("release", "t1", "b7", "shop", NOW + 4, rid, "changed mind"),
        ("renew_hold", "t1", "b8", "shop", NOW + 5, rid, 1),
        ("allocate", "t2", "b9", "shop", NOW + 6, rid, []),
    ]


def test_a_batch_decides_like_one_call_at_a_time():
    one_by_one, batched = stocked_engine(), stocked_engine()
    # Ids come from now, the node id and a counter: a twin engine knows the first one.
    rid = reserve(stocked_engine(), [("A", "L1", 3)]).reservation_id
    requests = scripted_requests(rid)

    expected = [getattr(one_by_one, method)(*arguments) for method, *arguments in requests]
    got = batched.execute_batch(requests)

    assert expected[0].reservation_id == rid
    assert [facts(o) for o in got] == [facts(o) for o in expected]
    assert [o.reason for o in got][-4:] == [
        "RESERVED",
        "RELEASED",
        "INVALID_TRANSITION",
        "RESERVATION_NOT_FOUND",
    ]
    assert batched.snapshot() == one_by_one.snapshot()


def test_the_journal_and_a_snapshot_reproduce_the_state():
    live = stocked_engine()
    events = [event for _, event in live.drain_journal()]
    snapshot, events_before = live.snapshot(), len(events)
    rid = reserve(live, [("A", "L1", 3), ("B", "", 1)]).reservation_id
    live.allocate("t1", key(), "shop", NOW + 1, rid, [("A", "L1", 2)])
    live.confirm_pick("t1", key(), "wms", NOW + 2, rid)
    reserve(live, [("A", "L2", 9)])  # short: a remembered rejection
    reserve(live, [("A", "L2", 1)], now=NOW + 3)
    live.expire_due(NOW + 3 + HOLD_MS)
    events += [event for _, event in live.drain_journal()]

    replayed = holdfast.Engine(default_hold_ms=HOLD_MS)
    replayed.replay(events)
    restored = holdfast.Engine.restore(snapshot, default_hold_ms=HOLD_MS)
    restored.replay(events[events_before:])

    assert replayed.snapshot() == live.snapshot()
    assert restored.snapshot() == live.snapshot()
    assert replayed.reservation("t1", rid) == live.reservation("t1", rid)
    # Rebuilt engines go on exactly like the live one, down to the next id.
    engines = (live, replayed, restored)
    next_ids = {reserve(e, [("A", "L1", 1)], idempotency_key="n").reservation_id for e in engines}
    assert len(next_ids) == 1


def test_every_outcome_says_who_owns_the_decision(engine):
    rid = reserve(engine, [("A", "L1", 2)]).reservation_id
    allocated = engine.allocate("t1", key(), "shop", NOW, rid)
    picked = engine.confirm_pick("t1", key(), "wms", NOW, rid)
    counted = engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 9, 100)
    refused = engine.adjust_stock("t1", key(), "wms", NOW, "A", "L1", 0, "count")

    assert allocated.owner == "holdfast"
    assert (picked.owner, counted.owner, refused.owner) == ("warehouse",) * 3


# --- the reason catalogue

GRPC_CODES = {
    "OK": 0,
    "INVALID_ARGUMENT": 3,
    "NOT_FOUND": 5,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "UNAVAILABLE": 14,
    "UNAUTHENTICATED": 16,
}


def test_the_reason_catalogue_gives_every_reason_a_grpc_status():
    catalogue = holdfast.reason_catalogue()
    names = [entry[0] for entry in catalogue]
    numbers = [entry[1] for entry in catalogue]

    assert len(set(names)) == len(names) == len(holdfast.REASONS)
    assert len(set(numbers)) == len(numbers)
    for name, _, status, code, retryable, meaning in catalogue:
        assert GRPC_CODES[status] == code, name
        assert isinstance(retryable, bool)
        assert meaning
    named_in_the_design = {
        "INSUFFICIENT_STOCK": "FAILED_PRECONDITION",
        "UNKNOWN_SKU": "FAILED_PRECONDITION",
        "UNKNOWN_LOCATION": "FAILED_PRECONDITION",
        "RESERVATION_NOT_FOUND": "NOT_FOUND",
        "RESERVATION_EXPIRED": "FAILED_PRECONDITION",
        "INVALID_TRANSITION": "FAILED_PRECONDITION",
        "IDEMPOTENCY_KEY_REUSED": "FAILED_PRECONDITION",
        "STALE_UPDATE": "FAILED_PRECONDITION",
        "CAPACITY_EXCEEDED": "FAILED_PRECONDITION",
        "CUTOFF_MISSED": "FAILED_PRECONDITION",
        "CHANNEL_CAP_REACHED": "FAILED_PRECONDITION",
        "INVALID_ARGUMENT": "INVALID_ARGUMENT",
        "OVERLOADED": "RESOURCE_EXHAUSTED",
        "DEPENDENCY_UNAVAILABLE": "UNAVAILABLE",
        "UNAUTHENTICATED": "UNAUTHENTICATED",
        "PERMISSION_DENIED": "PERMISSION_DENIED",
    }
    for name, status in named_in_the_design.items():
        assert holdfast.REASONS[name].grpc_status == status, name


def test_accepted_outcomes_and_only_they_carry_an_ok_reason(engine):
    outcomes = [
        reserve(engine, [("A", "L1", 1)]),
        reserve(engine, [("A", "L1", 99)]),
        reserve(engine, [("A", "L1", 0)]),
        engine.set_stock("t1", key(), "wms", NOW, "A", "L1", 0, 99),
    ]
    for outcome in outcomes:
        assert outcome.accepted == (holdfast.REASONS[outcome.reason].grpc_status == "OK")


def test_a_retried_warehouse_fact_without_as_of_replays(engine):
    rid = reserve(engine, [("A", "L1", 2)]).reservation_id
    assert engine.allocate("t1", key(), "shop", NOW + 1, rid).accepted
    first = engine.confirm_pick("t1", "pick-1", "wms", NOW + 1_000, rid)
    retry = engine.confirm_pick("t1", "pick-1", "wms", NOW + 2_000, rid)
    assert first.reason == "PICKED"
    assert retry.replayed
    position = engine.position("A", "L1")
    # The warehouse's time of the fact defaults to the decision's, and ours is recorded.
    assert (position["as_of"], position["received_at"]) == (NOW + 1_000, NOW + 1_000)


def test_node_ids_are_bounded_so_minted_ids_stay_distinct():
    holdfast.Engine(node_id=(1 << 20) - 1)
    with pytest.raises(ValueError, match="node_id"):
        holdfast.Engine(node_id=1 << 20)
