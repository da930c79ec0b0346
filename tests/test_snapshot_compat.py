"""Stores written by older builds still start. Each fixture directory holds a
snapshot and the events after it, made by the extension of an older commit
running the same steps (tests/fixtures/make_fixture.py: stock, two holds, an
allocation, a snapshot, then a pick, a release and a hold):

- ``format1``: commit 70e10b0, before promised ship dates were kept on lines;
- ``format2``: commit 20b8fb9, before holds said whether they were verified
  (its holds were journaled without the ``unverified`` flag).

Restoring and replaying them here gives the state that build had, and
decisions go on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import holdfast
import pytest

FIXTURES = Path(__file__).parent / "fixtures"

# The fields each old build did not have, by fixture.
NEW_FIELDS = {
    "format1": {"promised_ship_date", "unverified"},
    "format2": {"unverified"},
}


def _without(view: Any, fields: set[str]) -> Any:
    """The views as the old build gave them."""
    if isinstance(view, dict):
        return {k: _without(v, fields) for k, v in view.items() if k not in fields}
    if isinstance(view, list):
        return [_without(v, fields) for v in view]
    return view


@pytest.mark.parametrize("fixture", sorted(NEW_FIELDS))
def test_an_older_snapshot_and_its_events_restore_to_the_same_state(fixture: str) -> None:
    directory = FIXTURES / fixture
    new_fields = NEW_FIELDS[fixture]
    expected = json.loads((directory / "expected.json").read_text())
    events = [bytes.fromhex(h) for h in json.loads((directory / "events.json").read_text())]
    engine = holdfast.Engine.restore((directory / "snapshot.bin").read_bytes(), node_id=3)
    engine.replay(events)
    engine.check_invariants()
    assert engine.next_seq == expected["next_seq"]
    positions = json.loads(json.dumps(engine.positions(), default=str))
    assert _without(positions, new_fields) == expected["positions"]
    reservations = [engine.reservation("shop", rid) for rid in expected["ids"]]
    shown = json.loads(json.dumps(reservations, default=str))
    assert _without(shown, new_fields) == expected["reservations"]
    for reservation in reservations:
        assert reservation is not None
        # Nothing the old builds wrote was unverified.
        assert reservation["unverified"] is False
        if "promised_ship_date" in new_fields:
            assert all(line["promised_ship_date"] is None for line in reservation["lines"])

    # Decisions go on from the restored state, and a new snapshot round-trips.
    later = 1_764_400_000_000 + 10
    held = engine.reserve("shop", "after", "carol", later, "o-4", "web", [("MUG", "W2", 1)])
    assert held.reason == "RESERVED"
    again = holdfast.Engine.restore(engine.snapshot(), node_id=3)
    again.check_invariants()
    assert again.positions() == engine.positions()
