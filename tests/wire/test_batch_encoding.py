"""The batch answer the core encodes (``Engine.encode_results``) is, field
for field, the message ``holdfast.convert`` builds from the same state: the
prost structs in rust/python/src/wire.rs must not drift from the proto."""

from __future__ import annotations

import holdfast
import pytest
from holdfast import Engine, Outcome, convert
from holdfast.batch_answer import BatchAnswer, answer_field
from holdfast.v1 import inventory_pb2 as pb

NOW = 1_795_000_000_123
TENANT = "shop"
RULES = """
version = "wire-1"
author = "tests"
[[capacity]]
location = "PAR"
time_zone = "Europe/Paris"
daily_pick_units = 100
cutoff = "15:00"
"""


def converted(engine: Engine, kind: str, outcome: Outcome, committed_at: int | None) -> bytes:
    """What the servicer built before the core encoded it: convert.* on the views."""
    field = answer_field(kind)
    decision = convert.decision(outcome, committed_at)
    if field == "stock":
        assert outcome.position is not None
        position = engine.position(*outcome.position)
        assert position is not None
        answer = pb.StockResponse(position=convert.position(position), decision=decision)
        return pb.OperationResult(stock=answer).SerializeToString()
    assert outcome.reservation_id is not None
    view = engine.reservation(TENANT, outcome.reservation_id)
    assert view is not None
    reservation = convert.reservation(view)
    if field == "reserve":
        reserved = pb.ReserveResponse(reservation=reservation, decision=decision)
        return pb.OperationResult(reserve=reserved).SerializeToString()
    moved = pb.ReservationResponse(reservation=reservation, decision=decision)
    return pb.OperationResult(reservation=moved).SerializeToString()


def decided(engine: Engine) -> list[tuple[str, Outcome]]:
    """Every kind of answer, with every field the views can fill."""
    t = NOW
    out: list[tuple[str, Outcome]] = []

    def note(kind: str, outcome: Outcome) -> Outcome:
        out.append((kind, outcome))
        return outcome

    engine.activate_rules(holdfast.RuleSet.parse(RULES), "tests", t)
    note("set_stock", engine.set_stock(TENANT, "k1", "wms", t, "MUG", "PAR", 10, 1, t - 5))
    note("set_stock", engine.set_stock(TENANT, "k2", "wms", t, "MUG", "W2", 3, 1, t - 7))
    hold = note(
        "reserve", engine.reserve(TENANT, "k3", "web", t, "o-1", "web", [("MUG", "PAR", 4)])
    )
    rid = hold.reservation_id
    assert rid is not None
    partial = engine.reserve(
        TENANT, "k4", "web", t, "o-2", "app", [("MUG", "W2", 5)], allow_partial=True
    )
    note("reserve", partial)
    assert partial.reason == "PARTIALLY_RESERVED"
    note("reserve", engine.reserve(TENANT, "k3", "web", t + 1, "o-1", "web", [("MUG", "PAR", 4)]))
    note("renew_hold", engine.renew_hold(TENANT, "k5", "web", t + 2, rid, 600))
    note("allocate", engine.allocate(TENANT, "k6", "oms", t + 3, rid, [("MUG", "PAR", 3)]))
    note("confirm_pick", engine.confirm_pick(TENANT, "k7", "wms", t + 4, rid, None, t + 1))
    note("confirm_shipment", engine.confirm_shipment(TENANT, "k8", "wms", t + 5, rid, None, t + 2))
    note("record_return", engine.record_return(TENANT, "k9", "wms", t + 6, rid, None, True, t + 3))
    later = note(
        "reserve", engine.reserve(TENANT, "k10", "web", t + 7, "o-4", "web", [("MUG", "", 1)])
    )
    assert later.reservation_id is not None
    note("release", engine.release(TENANT, "k13", "web", t + 7, later.reservation_id, "no"))
    # Below what is committed: an open OVERCOMMITTED exception on the position.
    note(
        "adjust_stock", engine.adjust_stock(TENANT, "k11", "wms", t + 8, "MUG", "W2", -3, "damaged")
    )
    # A refusal: encoded by the caller, not the core.
    note("reserve", engine.reserve(TENANT, "k12", "web", t + 9, "o-3", "web", [("MUG", "PAR", 99)]))
    return out


@pytest.mark.parametrize("committed_at", [None, NOW + 250])
def test_the_core_encodes_what_convert_builds(committed_at: int | None) -> None:
    engine = Engine(default_hold_ms=60_000)
    answers = decided(engine)
    kinds = [kind for kind, _ in answers]
    outcomes = [outcome for _, outcome in answers]
    assert outcomes[-1].reason == "INSUFFICIENT_STOCK"
    encoded = engine.encode_results(
        TENANT, outcomes, [0 if k == "reserve" else 1 for k in kinds], committed_at is not None
    )
    assert encoded[-1] is None, "a refusal is left to the caller"
    answer = BatchAnswer([pb.OperationResult() for _ in answers])
    answer.decided(range(len(answers)), kinds, outcomes, encoded)
    response = pb.BatchResponse.FromString(answer.encoded(committed_at))
    assert len(response.results) == len(answers)
    for index, (kind, outcome) in enumerate(answers[:-1]):
        expected = pb.OperationResult.FromString(converted(engine, kind, outcome, committed_at))
        assert response.results[index] == expected, (kind, outcome.reason)
    refusal = response.results[-1]
    assert refusal.WhichOneof("result") == "error"
    assert refusal.error.code == 9  # FAILED_PRECONDITION


def test_the_fields_the_scenario_covers_are_set() -> None:
    """The comparison above is only as good as the fields it sees set."""
    engine = Engine(default_hold_ms=60_000)
    answers = decided(engine)
    seen = [pb.OperationResult.FromString(converted(engine, k, o, NOW)) for k, o in answers[:-1]]
    reservations = [r.reserve.reservation for r in seen if r.HasField("reserve")]
    reservations += [r.reservation.reservation for r in seen if r.HasField("reservation")]
    lines = [line for r in reservations for line in r.lines]
    assert any(line.promised_ship_date for line in lines)
    assert {line.state for line in lines} >= {pb.LINE_STATE_RESERVED, pb.LINE_STATE_RETURNED}
    history = [entry for r in reservations for entry in r.history]
    assert any(entry.from_state == pb.LINE_STATE_UNSPECIFIED for entry in history)
    assert any(entry.idempotency_key for entry in history)
    positions = [r.stock.position for r in seen if r.HasField("stock")]
    assert any(p.HasField("overcommitted_since") for p in positions)
    assert all(p.HasField("as_of") and p.source_sequence for p in positions)
    decisions = [getattr(r, r.WhichOneof("result") or "").decision for r in seen]
    assert any(d.replayed for d in decisions)
    assert {d.owner for d in decisions} == {pb.OWNER_HOLDFAST, pb.OWNER_WAREHOUSE}
