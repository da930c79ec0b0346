"""Model-based test: holdfast.Engine and the pure-Python ModelEngine side by side.

Hypothesis drives both with the same random requests (holds, allocations,
releases, renewals, picks, unpicks, shipments, returns, counts, adjustments,
safety stock, replays, reused keys, batches, time jumps, expiry, purges). After
every step both must have answered alike and hold the same positions and
reservations, and the engine's invariants must hold. At the end, the journal
replayed into a fresh engine, and a snapshot restored and rolled forward with
the later events, must give the live engine's snapshot byte for byte.

Examples per run: HOLDFAST_MODEL_EXAMPLES (default 300, about 6 s); up to 50 steps each.
"""

from __future__ import annotations

import os
from typing import Any

import holdfast
import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from model import ModelEngine

CONFIG = {
    "default_hold_ms": 10_000,
    "max_hold_ms": 60_000,
    "idempotency_retention_ms": 120_000,
    "node_id": 7,
}
EXAMPLES = int(os.environ.get("HOLDFAST_MODEL_EXAMPLES", "300"))
START = 1_700_000_000_000
SKUS = ["A", "B", "C"]
LOCATIONS = ["L1", "L2"]
TENANTS = ["t1", "t2"]
ACTORS = ["shop", "wms", "ops"]

# Mostly known names; now and then one no position has (UNKNOWN_SKU / _LOCATION).
sku_names = st.sampled_from([*SKUS, *SKUS, "Z"])
reserve_locations = st.sampled_from(["", "", *LOCATIONS, *LOCATIONS, "L9"])
reserve_lines = st.lists(
    st.tuples(sku_names, reserve_locations, st.integers(1, 6)), min_size=1, max_size=3
)
hold_times = st.sampled_from([0, 0, 0, 4, 30, 60])
positions = st.tuples(st.sampled_from(SKUS), st.sampled_from(LOCATIONS))

# Requests that break one limit each: INVALID_ARGUMENT naming the field, nothing stored.
INVALID_REQUESTS: list[tuple[str, str, tuple[Any, ...]]] = [
    ("reserve", "lines[0].quantity", ("o", "web", [("A", "L1", 0)], 0, False)),
    ("reserve", "lines[1].sku", ("o", "web", [("A", "L1", 1), ("", "L1", 1)], 0, False)),
    ("reserve", "lines[0].location", ("o", "web", [("A", "L\n1", 1)], 0, False)),
    ("reserve", "lines", ("o", "web", [], 0, False)),
    ("reserve", "hold_seconds", ("o", "web", [("A", "", 1)], -1, False)),
    ("reserve", "hold_seconds", ("o", "web", [("A", "", 1)], 61, False)),
    ("reserve", "order_ref", ("x" * 129, "web", [("A", "", 1)], 0, False)),
    ("allocate", "reservation_id", ("not-a-uuid", [])),
    ("release", "reservation_id", ("", "")),
    ("release", "note", ("00000000-0000-7000-8000-000000000000", "n" * 1025)),
    ("confirm_pick", "as_of", ("00000000-0000-7000-8000-000000000000", [], -1)),
    ("set_stock", "location", ("A", "", 5, 1, START)),
    ("adjust_stock", "delta", ("A", "L1", 0, "count")),
    ("adjust_stock", "adjustment_reason", ("A", "L1", 1, "")),
    ("set_safety_stock", "quantity", ("A", "L1", 10**12 + 1)),
]


def outcome_facts(outcome: Any) -> tuple[Any, ...]:
    rejection = outcome.rejection
    return (
        outcome.accepted,
        outcome.reason,
        outcome.replayed,
        outcome.owner,
        outcome.decided_at,
        outcome.rule_version,
        outcome.reservation_id,
        outcome.position,
        None if rejection is None else (rejection.reason, rejection.facts, rejection.message),
    )


class EngineAgainstModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.engine = holdfast.Engine(**CONFIG)
        self.model = ModelEngine(**CONFIG)
        self.now = START
        self.keys = 0
        self.sequence = 0  # the warehouse's last count number
        # Every request sent: (method, tenant, key, args, first outcome), for replays.
        self.requests: list[tuple[str, str, str, tuple[Any, ...], Any]] = []
        self.reservations: list[tuple[str, str]] = []  # (tenant, id) of every hold placed
        self.stored: dict[tuple[str, str], Any] = {}  # the outcome each key remembers
        self.events: list[bytes] = []
        self.checkpoint = (self.engine.snapshot(), 0)  # snapshot, events before it

    # --- sending requests to both

    def new_key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def send(self, method: str, tenant: str, args: tuple[Any, ...], key: str = "", actor=""):
        key = key or self.new_key()
        actor = actor or ACTORS[self.keys % len(ACTORS)]
        got = getattr(self.engine, method)(tenant, key, actor, self.now, *args)
        want = getattr(self.model, method)(tenant, key, actor, self.now, *args)
        assert outcome_facts(got) == outcome_facts(want), (method, args)
        assert got.accepted == (holdfast.REASONS[got.reason].grpc_status == "OK")
        self.note_request(method, tenant, key, args, got)
        return got

    def note_request(self, method, tenant, key, args, outcome) -> None:
        self.requests.append((method, tenant, key, args, outcome))
        refused = outcome.reason in ("INVALID_ARGUMENT", "IDEMPOTENCY_KEY_REUSED")
        if not outcome.replayed and not refused:
            self.stored[(tenant, key)] = outcome
        if method == "reserve" and outcome.accepted and not outcome.replayed:
            self.reservations.append((tenant, outcome.reservation_id))

    def reservation_ref(self, data) -> tuple[str, str]:
        """A tenant and the id it names: mostly its own hold, sometimes another
        tenant's, an unknown id, or its id spelled another way UUIDs allow."""
        tenant, rid = data.draw(st.sampled_from(self.reservations))
        twist = data.draw(st.sampled_from(["own"] * 8 + ["other tenant", "unknown", "spelling"]))
        if twist == "other tenant":
            tenant = TENANTS[1 - TENANTS.index(tenant)]
        elif twist == "unknown":
            rid = "00000000-0000-7000-8000-00000000ffff"
        elif twist == "spelling":
            spellings = [rid.upper(), rid.replace("-", ""), f"{{{rid}}}", f"urn:uuid:{rid}"]
            rid = data.draw(st.sampled_from(spellings))
        return tenant, rid

    def move_lines(self, data, tenant: str, rid: str) -> list[tuple[str, str, int]]:
        """No lines (move everything the action can), or some units of some lines."""
        view = self.model.reservation(tenant, rid)
        if view is None or data.draw(st.booleans()):
            return []
        chosen = data.draw(st.lists(st.sampled_from(view["lines"]), min_size=1, max_size=3))
        lines = []
        for line in chosen:
            location = data.draw(st.sampled_from([line["location"], ""]))
            quantity = data.draw(st.integers(1, line["quantity"] + 1))
            lines.append((line["sku"], location, quantity))
        return lines

    # --- the steps

    @initialize(stock=st.lists(st.tuples(positions, st.integers(0, 12)), min_size=1, max_size=6))
    def stock_the_warehouse(self, stock) -> None:
        for (sku, location), on_hand in stock:
            self.sequence += 1
            self.send("set_stock", "t1", (sku, location, on_hand, self.sequence, self.now))

    @rule(
        tenant=st.sampled_from(TENANTS), lines=reserve_lines, hold=hold_times, partial=st.booleans()
    )
    def reserve(self, tenant, lines, hold, partial) -> None:
        self.send("reserve", tenant, (f"order-{self.keys}", "web", lines, hold, partial))

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), method=st.sampled_from(["allocate", "unpick"]))
    def allocate_or_unpick(self, data, method) -> None:
        tenant, rid = self.reservation_ref(data)
        self.send(method, tenant, (rid, self.move_lines(data, tenant, rid)))

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), method=st.sampled_from(["confirm_pick", "confirm_shipment"]))
    def pick_or_ship(self, data, method) -> None:
        tenant, rid = self.reservation_ref(data)
        self.send(method, tenant, (rid, self.move_lines(data, tenant, rid), self.now - 5))

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), restock=st.booleans())
    def record_return(self, data, restock) -> None:
        tenant, rid = self.reservation_ref(data)
        lines = self.move_lines(data, tenant, rid)
        self.send("record_return", tenant, (rid, lines, restock, self.now))

    @precondition(lambda self: self.reservations)
    @rule(data=st.data())
    def release(self, data) -> None:
        tenant, rid = self.reservation_ref(data)
        self.send("release", tenant, (rid, data.draw(st.sampled_from(["", "changed mind"]))))

    @precondition(lambda self: self.reservations)
    @rule(data=st.data(), hold=hold_times)
    def renew_hold(self, data, hold) -> None:
        tenant, rid = self.reservation_ref(data)
        self.send("renew_hold", tenant, (rid, hold))

    @rule(position=positions, on_hand=st.integers(0, 15), stale=st.integers(0, 4))
    def count_stock(self, position, on_hand, stale) -> None:
        """A warehouse count; now and then an old one (STALE_UPDATE)."""
        if stale == 0:
            sequence = max(self.sequence - 1, 0)
        else:
            self.sequence += 1
            sequence = self.sequence
        self.send("set_stock", "t1", (*position, on_hand, sequence, self.now - 100))

    @rule(position=positions, delta=st.integers(-6, 6).filter(bool))
    def adjust_stock(self, position, delta) -> None:
        self.send("adjust_stock", "t1", (*position, delta, "cycle count"))

    @rule(position=positions, quantity=st.integers(0, 4))
    def set_safety_stock(self, position, quantity) -> None:
        self.send("set_safety_stock", "t1", (*position, quantity))

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), actor=st.sampled_from(ACTORS))
    def repeat_a_request(self, data, actor) -> None:
        """The same request under the same key: its first outcome again, replayed,
        while the key is retained (the model says whether it still is)."""
        method, tenant, key, args, _ = data.draw(st.sampled_from(self.requests))
        self.expire_due()  # so that any event now would be the repeat's
        before = self.engine.next_seq
        again = self.send(method, tenant, args, key=key, actor=actor)
        if again.replayed:
            first = outcome_facts(self.stored[(tenant, key)])
            assert outcome_facts(again) == (*first[:2], True, *first[3:])  # replayed=True
            assert self.engine.next_seq == before, "a replay journals nothing"

    @precondition(lambda self: self.requests)
    @rule(data=st.data(), tenant=st.sampled_from(TENANTS), position=positions)
    def reuse_a_key(self, data, tenant, position) -> None:
        """Another request under an earlier key: IDEMPOTENCY_KEY_REUSED for the
        same tenant (while retained), a fresh decision for the other one."""
        _, _, key, _, _ = data.draw(st.sampled_from(self.requests))
        quantity = data.draw(st.integers(0, 3))
        self.send("set_safety_stock", tenant, (*position, quantity), key=key)

    @rule(invalid=st.sampled_from(INVALID_REQUESTS), tenant=st.sampled_from(TENANTS))
    def send_an_invalid_request(self, invalid, tenant) -> None:
        method, field, args = invalid
        outcome = self.send(method, tenant, args)
        assert outcome.reason == "INVALID_ARGUMENT"
        assert outcome.rejection.facts["field"] == field

    @rule(
        tenant=st.sampled_from(TENANTS),
        lines=reserve_lines,
        position=positions,
        delta=st.integers(-3, 3).filter(bool),
    )
    def send_a_batch(self, tenant, lines, position, delta) -> None:
        keys = [self.new_key() for _ in range(3)]
        items = [
            ("reserve", tenant, keys[0], "shop", self.now, "batch", "web", lines, 0, False),
            ("adjust_stock", "t1", keys[1], "wms", self.now, *position, delta, "batch"),
            ("reserve", tenant, keys[0], "shop", self.now, "batch", "web", lines, 0, False),
        ]
        got = self.engine.execute_batch(items)
        want = self.model.execute_batch(items)
        assert [outcome_facts(o) for o in got] == [outcome_facts(o) for o in want]
        for item, outcome in zip(items, got, strict=True):
            self.note_request(item[0], item[1], item[2], item[5:], outcome)

    @rule(ms=st.one_of(st.integers(0, 12_000), st.integers(100_000, 150_000)))
    def time_passes(self, ms) -> None:
        self.now += ms

    @rule(data=st.data(), offset=st.sampled_from([-1, 0, 0, 1]))
    def jump_to_a_deadline(self, data, offset) -> None:
        """To the millisecond a hold expires or a key's retention ends (give or take one)."""
        views = [self.model.reservation(tenant, rid) for tenant, rid in self.reservations]
        deadlines = [view["expires_at"] for view in views if view["state"] == "RESERVED"]
        retention = CONFIG["idempotency_retention_ms"]
        deadlines += [outcome.decided_at + retention for outcome in self.stored.values()]
        later = sorted({d + offset for d in deadlines if d + offset >= self.now})
        if later:
            self.now = data.draw(st.sampled_from(later))

    @rule()
    def expire_due(self) -> None:
        assert self.engine.expire_due(self.now) == self.model.expire_due(self.now)

    @rule()
    def purge_keys(self) -> None:
        assert self.engine.purge_idempotency(self.now) == self.model.purge_idempotency(self.now)

    @rule(version=st.sampled_from(["rules-2", "rules-3"]))
    def activate_rules(self, version) -> None:
        self.engine.set_rule_version(version, "ops", self.now)
        self.model.set_rule_version(version, "ops", self.now)

    @rule()
    def take_a_snapshot(self) -> None:
        self.events += [event for _, event in self.engine.drain_journal()]
        self.checkpoint = (self.engine.snapshot(), len(self.events))

    # --- after every step

    @invariant()
    def same_state(self) -> None:
        self.engine.check_invariants()
        self.model.check_invariants()
        assert self.engine.positions() == self.model.positions()
        for sku in [*SKUS, "Z"]:
            for location in LOCATIONS:
                assert self.engine.position(sku, location) == self.model.position(sku, location)
        for tenant, rid in self.reservations:
            for asking in TENANTS:
                got = self.engine.reservation(asking, rid)
                assert got == self.model.reservation(asking, rid)
                assert (got is not None) == (asking == tenant)
        assert self.engine.overcommitted() == self.model.overcommitted()
        assert self.engine.open_holds() == self.model.open_holds()
        assert self.engine.reservation_count() == self.model.reservation_count()
        assert self.engine.idempotency_key_count() == self.model.idempotency_key_count()
        assert self.engine.rule_version == self.model.rule_version

    def teardown(self) -> None:
        self.events += [event for _, event in self.engine.drain_journal()]
        live = self.engine.snapshot()
        replayed = holdfast.Engine(**CONFIG)
        replayed.replay(self.events)
        assert replayed.snapshot() == live, "journal replay differs from the live state"
        snapshot, before = self.checkpoint
        restored = holdfast.Engine.restore(snapshot, **CONFIG)
        restored.replay(self.events[before:])
        assert restored.snapshot() == live, "snapshot + later events differ from the live state"
        assert restored.next_seq == self.engine.next_seq == len(self.events) + 1


EngineAgainstModel.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    report_multiple_bugs=False,  # shrink one failure, quickly
)
TestEngineAgainstModel = EngineAgainstModel.TestCase
