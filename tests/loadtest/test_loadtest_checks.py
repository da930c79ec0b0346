"""The correctness checks on made-up figures: an oversold position, more units
accepted than there were, and a replay that did not match, are all found."""

from __future__ import annotations

from typing import Any

from holdfast.loadtest import checks, ops
from holdfast.v1 import inventory_pb2 as pb


def position(sku: str, on_hand: int, reserved: int = 0, allocated: int = 0, picked: int = 0) -> Any:
    return pb.StockPosition(
        sku=sku,
        location="DC",
        on_hand=on_hand,
        reserved=reserved,
        allocated=allocated,
        picked=picked,
    )


def test_oversold_position_is_found() -> None:
    fine = position("A", 10, reserved=4, allocated=3, picked=3)
    over = position("B", 10, reserved=5, allocated=5, picked=1)
    found = checks.oversold([fine, over])
    assert len(found) == 1
    assert found[0].startswith("B@DC")
    assert "11 > on hand 10" in found[0]


def test_accepted_units_beyond_the_start_are_found() -> None:
    baseline = checks.available_by_sku([position("A", 10, reserved=2), position("B", 5)])
    assert baseline == {"A": 8, "B": 5}
    assert checks.over_accepted({"A": 8, "B": 5}, baseline) == []
    over = checks.over_accepted({"A": 9, "C": 1}, baseline)
    assert len(over) == 2
    assert over[0].startswith("A: accepted 9 units, only 8")


def reserve_op(key: str) -> ops.Op:
    return ops.Op(ops.KINDS["reserve"], pb.ReserveRequest(idempotency_key=key), "A", 1)


def test_replays_match_or_mismatch() -> None:
    replays = checks.Replays(size=10)
    held = ops.Outcome(ops.OK, "RESERVED", "r-1", 1)
    replays.judge(reserve_op("k1"), held, ops.Outcome(ops.OK, "RESERVED", "r-1", 1, True))
    refused = ops.Outcome(ops.REFUSED, "INSUFFICIENT_STOCK")
    replays.judge(reserve_op("k2"), refused, refused)
    # A second reservation for the same key, or one not marked replayed: decided twice.
    replays.judge(reserve_op("k3"), held, ops.Outcome(ops.OK, "RESERVED", "r-2", 1, True))
    replays.judge(reserve_op("k4"), held, ops.Outcome(ops.OK, "RESERVED", "r-1", 1, False))
    replays.judge(reserve_op("k5"), refused, ops.Outcome(ops.OK, "RESERVED", "r-9", 1, True))
    replays.judge(reserve_op("k6"), held, ops.Outcome(ops.ERROR, "UNAVAILABLE"))
    summary = replays.as_json()
    assert (summary["sent"], summary["matched"], summary["mismatches"]) == (6, 2, 3)
    assert summary["undecided"] == 1
    assert [m["idempotency_key"] for m in summary["mismatch_examples"]] == ["k3", "k4", "k5"]


def test_replay_sample_skips_reads_errors_and_replays() -> None:
    replays = checks.Replays(size=3)
    read = ops.Op(ops.KINDS["get_availability"], pb.GetAvailabilityRequest())
    replays.offer(read, ops.Outcome(ops.OK, "READ"))
    replays.offer(reserve_op("e"), ops.Outcome(ops.ERROR, "UNAVAILABLE"))
    replays.offer(reserve_op("r"), ops.Outcome(ops.OK, "RESERVED", "x", 1, True))
    assert replays.sample == []
    for i in range(100):
        replays.offer(reserve_op(f"k{i}"), ops.Outcome(ops.OK, "RESERVED", f"r{i}", 1))
    assert replays.seen == 100
    assert len(replays.sample) == 3
