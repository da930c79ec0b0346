"""A shadowed candidate's divergences equal what replaying the traffic under it decides.

Engine A decides a seeded random workload (stock counts, reserves with and
without locations, over channels and hold times, partial or not, renewals,
releases, allocations, time passing so holds expire) under rule set ACTIVE,
with CANDIDATE shadowed. Before each request a copy of A's state
(``Engine.restore(A.snapshot())`` with the same options, ACTIVE installed)
has CANDIDATE activated and decides the same request. Comparing A's outcome
with the copy's, the way the core defines a divergence, must count exactly
what A's shadow counted, kind by kind:

- ``outcome``: one accepts, the other refuses;
- ``reason``: both refuse for different reasons, or both accept with different codes;
- ``placement``: both place a hold, on other lines (sku, location, quantity);
- ``hold_time``: both place (or renew) a hold, with another expiry.

Only new decisions are compared (a retry replayed from its key, or a request
refused before it is decided, is not): a request is a new decision of A when
A journals an event carrying its idempotency key.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest
from holdfast import Engine, Outcome, RuleSet

OPTIONS: dict[str, Any] = {
    "default_hold_ms": 900_000,
    "max_hold_ms": 86_400_000,
    "idempotency_retention_ms": 86_400_000,
    "node_id": 1,
}
TENANT = "t1"
SKUS = ("MUG", "CUP", "PLATE")
LOCATIONS = ("W1", "W2", "W3")
CHANNELS = ("web", "marketplace", "phone")
START_MS = 1_800_000_000_000

ACTIVE = RuleSet.parse(
    """version = "active-1"
author = "ana@shop"
description = "most available, ten-minute holds"

[holds]
default_seconds = 600
max_seconds = 3600
"""
)
# Another strategy with splits, a cap, safety stock and other hold times, so
# that every kind of divergence occurs.
CANDIDATE = RuleSet.parse(
    """version = "candidate-2"
author = "ben@shop"
description = "priority W3 first with splits, a marketplace cap, web holds shorter"

[holds]
default_seconds = 600
max_seconds = 3600

[holds.channels.web]
default_seconds = 300
max_seconds = 1800

[[channel_caps]]
channel = "marketplace"
max_units = 6

[[safety_stock]]
location = "W2"
sku = "CUP"
quantity = 2

[allocation]
strategy = "priority"
priority = ["W3", "W1", "W2"]
allow_split = true
"""
)


class Workload:
    """Seeded random requests in the engine's batch-item form, with the
    state the generator needs (which reservations exist, each position's
    last count sequence)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.now = START_MS
        self.counter = 0
        self.reservations: list[str] = []
        self.sequence: dict[tuple[str, str], int] = {}
        self.last: tuple[Any, ...] | None = None

    def key(self) -> str:
        self.counter += 1
        return f"k-{self.counter}"

    def next(self) -> tuple[Any, ...]:
        rng = self.rng
        self.now += rng.choice((0, 1, 50, 1_000, 60_000, 400_000))
        roll = rng.random()
        if self.last is not None and roll < 0.04:
            return self.last  # a retry with the same key: replayed, not compared
        if roll < 0.15:
            item = self.stock()
        elif roll < 0.65 or not self.reservations:
            item = self.reserve()
        elif roll < 0.75:
            item = ("renew_hold", TENANT, self.key(), "shop", self.now, self.pick(), self.hold())
        elif roll < 0.88:
            item = ("release", TENANT, self.key(), "shop", self.now, self.pick(), "")
        else:
            item = ("allocate", TENANT, self.key(), "shop", self.now, self.pick(), [])
        self.last = item
        return item

    def stock(self) -> tuple[Any, ...]:
        rng = self.rng
        position = (rng.choice(SKUS), rng.choice(LOCATIONS))
        sequence = self.sequence.get(position, 0) + 1
        self.sequence[position] = sequence
        on_hand = rng.randint(0, 12)
        return (
            "set_stock",
            TENANT,
            self.key(),
            "wms",
            self.now,
            *position,
            on_hand,
            sequence,
            None,
        )

    def reserve(self) -> tuple[Any, ...]:
        rng = self.rng
        lines = []
        for sku in rng.sample(SKUS, rng.randint(1, 2)):
            location = rng.choice(("", "", *LOCATIONS))
            lines.append((sku, location, rng.randint(1, 7)))
        return (
            "reserve",
            TENANT,
            self.key(),
            "shop",
            self.now,
            f"order-{self.counter}",
            rng.choice(CHANNELS),
            lines,
            self.hold(),
            rng.random() < 0.3,
        )

    def hold(self) -> int:
        return self.rng.choice((0, 0, 0, 120, 900, 2400, 7200))

    def pick(self) -> str:
        return self.rng.choice(self.reservations)

    def decided(self, outcome: Outcome) -> None:
        if outcome.reservation_id is not None and outcome.reservation_id not in self.reservations:
            self.reservations.append(outcome.reservation_id)


def decide(engine: Engine, item: tuple[Any, ...]) -> Outcome:
    return engine.execute_batch([item])[0]  # type: ignore[list-item]


def hold_of(engine: Engine, outcome: Outcome) -> tuple[list[tuple[str, str, int]], int] | None:
    """The hold a decision placed or renewed: its lines and expiry."""
    if not outcome.accepted or outcome.reservation_id is None:
        return None
    view = engine.reservation(TENANT, outcome.reservation_id)
    assert view is not None
    lines = [(line["sku"], line["location"], line["quantity"]) for line in view["lines"]]
    return lines, view["expires_at"]


def divergence(
    action: str,
    active: Outcome,
    active_hold: tuple[list[tuple[str, str, int]], int] | None,
    candidate: Outcome,
    candidate_hold: tuple[list[tuple[str, str, int]], int] | None,
) -> str | None:
    """The kind of difference between two decisions of one request, as the core defines it."""
    if active.accepted != candidate.accepted:
        return "outcome"
    if active.reason != candidate.reason:
        return "reason"
    if not active.accepted or action not in ("reserve", "renew_hold"):
        return None  # both refused alike, or a change no rule decides
    assert active_hold is not None
    assert candidate_hold is not None
    if action == "reserve" and active_hold[0] != candidate_hold[0]:
        return "placement"
    if active_hold[1] != candidate_hold[1]:
        return "hold_time"
    return None


def copy_under_candidate(engine: Engine, now: int) -> Engine:
    """A's state just before a request, deciding under the candidate."""
    copy = Engine.restore(engine.snapshot(), **OPTIONS)
    copy.install_rules(ACTIVE)
    copy.activate_rules(CANDIDATE, "replayer", now)
    return copy


def new_decision(events: list[tuple[int, bytes]], key: str) -> bool:
    return any(Engine.event_summary(event)["idempotency_key"] == key for _, event in events)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_divergence_counts_equal_a_replay_under_the_candidate(seed: int) -> None:
    engine = Engine(**OPTIONS)
    engine.activate_rules(ACTIVE, "ops", START_MS)
    engine.set_shadow(CANDIDATE)
    engine.drain_journal()
    workload = Workload(seed)
    replayed: Counter[str] = Counter()
    shadowed: Counter[str] = Counter()
    compared = 0
    for _ in range(600):
        item = workload.next()
        copy = copy_under_candidate(engine, item[4])
        outcome = decide(engine, item)
        events = engine.drain_journal()
        for found in engine.take_divergences():
            assert found["action"] == item[0]
            shadowed[found["kind"]] += 1
        workload.decided(outcome)
        if not new_decision(events, item[2]):
            continue
        compared += 1
        other = decide(copy, item)
        kind = divergence(item[0], outcome, hold_of(engine, outcome), other, hold_of(copy, other))
        if kind is not None:
            replayed[kind] += 1
    assert shadowed == replayed
    assert engine.shadow_decisions() == compared
    assert engine.rule_version == ACTIVE.version


def test_every_kind_of_divergence_occurs_in_the_workload() -> None:
    """The workload is rich enough for the comparison above to mean something."""
    engine = Engine(**OPTIONS)
    engine.activate_rules(ACTIVE, "ops", START_MS)
    engine.set_shadow(CANDIDATE)
    workload = Workload(1)
    kinds: Counter[str] = Counter()
    for _ in range(600):
        workload.decided(decide(engine, workload.next()))
        kinds.update(found["kind"] for found in engine.take_divergences())
    assert set(kinds) == {"outcome", "reason", "placement", "hold_time"}, kinds
    assert engine.shadow_decisions() > 300


def test_the_shadow_has_no_effect() -> None:
    """The same traffic with and without a shadow leaves the same state and journal."""
    plain = Engine(**OPTIONS)
    shadowing = Engine(**OPTIONS)
    for engine in (plain, shadowing):
        engine.activate_rules(ACTIVE, "ops", START_MS)
    shadowing.set_shadow(CANDIDATE)
    workload = Workload(7)
    for _ in range(400):
        item = workload.next()
        first = decide(plain, item)
        second = decide(shadowing, item)
        assert (first.accepted, first.reason, first.reservation_id) == (
            second.accepted,
            second.reason,
            second.reservation_id,
        )
        workload.decided(first)
    assert plain.drain_journal() == shadowing.drain_journal()
    assert plain.positions() == shadowing.positions()
