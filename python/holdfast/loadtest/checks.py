"""Correctness checks: nothing oversold, and every replay matched its original.

``oversold`` and ``over_accepted`` are pure functions of what the server
reported and what the run counted, so they can be tested with made-up
figures; ``Replays`` keeps a sample of answered calls and sends them again
with the same idempotency key.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from holdfast.loadtest import ops

REPLAY_SAMPLE = 200  # calls kept to replay at the end (reservoir sample)


class Position(Protocol):
    """What the oversold check reads of a ``StockPosition``."""

    @property
    def sku(self) -> str: ...
    @property
    def location(self) -> str: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def reserved(self) -> int: ...
    @property
    def allocated(self) -> int: ...
    @property
    def picked(self) -> int: ...


def oversold(positions: Iterable[Position]) -> list[str]:
    """Every position committing more units than are on hand, described."""
    found = []
    for p in positions:
        committed = p.reserved + p.allocated + p.picked
        if committed > p.on_hand:
            found.append(
                f"{p.sku}@{p.location}: reserved {p.reserved} + allocated {p.allocated}"
                f" + picked {p.picked} = {committed} > on hand {p.on_hand}"
            )
    return found


def available_by_sku(positions: Iterable[Position]) -> dict[str, int]:
    """Units still promisable per SKU (on hand less commitments), over its locations."""
    totals: dict[str, int] = {}
    for p in positions:
        free = max(p.on_hand - p.reserved - p.allocated - p.picked, 0)
        totals[p.sku] = totals.get(p.sku, 0) + free
    return totals


def over_accepted(accepted: Mapping[str, int], baseline: Mapping[str, int]) -> list[str]:
    """SKUs whose accepted units exceed what was there to promise at the start."""
    return [
        f"{sku}: accepted {units} units, only {baseline.get(sku, 0)} were available at the start"
        for sku, units in sorted(accepted.items())
        if units > baseline.get(sku, 0)
    ]


@dataclass
class Replays:
    """A reservoir sample of answered mutating calls, replayed at the end."""

    size: int = REPLAY_SAMPLE
    seen: int = 0
    sample: list[tuple[ops.Op, ops.Outcome]] = field(default_factory=list)
    sent: int = 0
    matched: int = 0
    undecided: int = 0  # the replay itself failed (UNAVAILABLE, ...): no verdict
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    _random: random.Random = field(default_factory=random.Random)

    def offer(self, op: ops.Op, outcome: ops.Outcome) -> None:
        if not op.kind.mutating or outcome.status == ops.ERROR or outcome.replayed:
            return
        self.seen += 1
        if len(self.sample) < self.size:
            self.sample.append((op, outcome))
        else:
            slot = self._random.randrange(self.seen)
            if slot < self.size:
                self.sample[slot] = (op, outcome)

    def judge(self, op: ops.Op, original: ops.Outcome, again: ops.Outcome) -> None:
        self.sent += 1
        if again.status == ops.ERROR:
            self.undecided += 1
        elif again.signature() == original.signature() and (
            again.replayed or again.status != ops.OK
        ):
            self.matched += 1
        else:
            self.mismatches.append(
                {
                    "operation": op.kind.name,
                    "idempotency_key": op.request.idempotency_key,
                    "original": list(original.signature()),
                    "replay": list(again.signature()),
                    "replay_marked_replayed": again.replayed,
                }
            )

    def as_json(self) -> dict[str, Any]:
        return {
            "sampled_from": self.seen,
            "sent": self.sent,
            "matched": self.matched,
            "undecided": self.undecided,
            "mismatches": len(self.mismatches),
            "mismatch_examples": self.mismatches[:10],
        }
