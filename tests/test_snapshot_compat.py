"""A store written before snapshot format 2 still starts: the snapshot and
the events after it in tests/fixtures/format1 were made by the extension of
commit 70e10b0 (before promised ship dates were kept on lines); restoring and
replaying them here gives the state that build had, and decisions go on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import holdfast

FIXTURE = Path(__file__).parent / "fixtures" / "format1"


def _without_new_fields(view: Any) -> Any:
    """The views as the old build gave them (it had no promised ship dates)."""
    if isinstance(view, dict):
        return {k: _without_new_fields(v) for k, v in view.items() if k != "promised_ship_date"}
    if isinstance(view, list):
        return [_without_new_fields(v) for v in view]
    return view


def test_a_format_1_snapshot_and_its_events_restore_to_the_same_state() -> None:
    expected = json.loads((FIXTURE / "expected.json").read_text())
    events = [bytes.fromhex(h) for h in json.loads((FIXTURE / "events.json").read_text())]
    engine = holdfast.Engine.restore((FIXTURE / "snapshot.bin").read_bytes(), node_id=3)
    engine.replay(events)
    engine.check_invariants()
    assert engine.next_seq == expected["next_seq"]
    positions = json.loads(json.dumps(engine.positions(), default=str))
    assert _without_new_fields(positions) == expected["positions"]
    reservations = [engine.reservation("shop", rid) for rid in expected["ids"]]
    shown = json.loads(json.dumps(reservations, default=str))
    assert _without_new_fields(shown) == expected["reservations"]
    assert all(
        line["promised_ship_date"] is None
        for reservation in reservations
        if reservation is not None
        for line in reservation["lines"]
    )

    # Decisions go on from the restored state, and a new snapshot round-trips.
    later = 1_764_400_000_000 + 10
    held = engine.reserve("shop", "after", "carol", later, "o-4", "web", [("MUG", "W2", 1)])
    assert held.reason == "RESERVED"
    again = holdfast.Engine.restore(engine.snapshot(), node_id=3)
    again.check_invariants()
    assert again.positions() == engine.positions()
