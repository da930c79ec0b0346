"""The state the pure-Python model keeps: outcomes, positions, reservations
and idempotency records (mirrors rust/core/src position.rs, reservation.rs,
idempotency.rs and engine/view.rs). See model.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_rules import BUCKET, RESERVED, ModelRejection, reservation_state

Lines = tuple[tuple[str, str, int], ...]


@dataclass(frozen=True)
class ModelOutcome:
    reason: str
    decided_at: int
    rule_version: str
    owner: str
    replayed: bool = False
    reservation_id: str | None = None
    position: tuple[str, str] | None = None
    rejection: ModelRejection | None = None

    @property
    def accepted(self) -> bool:
        return self.rejection is None


class PlacedLines(list):
    """Lines a reserve places: ((sku, location), quantity), and whether it fell short."""

    short = False


class Refused(Exception):  # noqa: N818 - a decision, not an error
    """A guard said no; raised before any state changes."""

    def __init__(self, rejection: ModelRejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


class Malformed(Refused):
    """A limit of the active rules (a hold past the longest): answered like a
    malformed request, never stored, though due holds were swept first."""


@dataclass
class Position:
    sku: str
    location: str
    on_hand: int = 0
    reserved: int = 0
    allocated: int = 0
    picked: int = 0
    safety_stock: int = 0
    source_sequence: int | None = None
    as_of: int | None = None
    received_at: int | None = None
    overcommitted_since: int | None = None

    @property
    def committed(self) -> int:
        return self.reserved + self.allocated + self.picked

    @property
    def available(self) -> int:
        return self.on_hand - self.committed - self.safety_stock

    def move(self, source: str, target: str, quantity: int) -> None:
        for state, sign in ((source, -1), (target, 1)):
            if state in BUCKET:
                setattr(self, BUCKET[state], getattr(self, BUCKET[state]) + sign * quantity)

    def track_overcommitment(self, at: int) -> None:
        if self.available < 0:
            if self.overcommitted_since is None:
                self.overcommitted_since = at
        else:
            self.overcommitted_since = None

    def view(self) -> dict[str, Any]:
        return {**vars(self), "available": self.available}


@dataclass
class Line:
    sku: str
    location: str
    state: str
    quantity: int


@dataclass
class Reservation:
    reservation_id: str
    slot: int
    tenant: str
    order_ref: str
    channel: str
    expires_at: int
    lines: list[Line]
    history: list[dict[str, Any]] = field(default_factory=list)
    # Held without the feasibility check; the model never is (no dependency).
    unverified: bool = False

    @property
    def state(self) -> str:
        return reservation_state([line.state for line in self.lines])

    @property
    def holding(self) -> bool:
        return any(line.state == RESERVED for line in self.lines)

    def view(self) -> dict[str, Any]:
        return {
            "reservation_id": self.reservation_id,
            "tenant": self.tenant,
            "order_ref": self.order_ref,
            "channel": self.channel,
            "state": self.state,
            "created_at": self.history[0]["at"],
            "expires_at": self.expires_at,
            "rule_version": self.history[0]["rule_version"],
            "unverified": self.unverified,
            # The model runs under the built-in rules: no capacity, no promises.
            "lines": [{**vars(line), "promised_ship_date": None} for line in self.lines],
            "history": [dict(entry) for entry in self.history],
        }


@dataclass
class Record:
    """An idempotency record: the request it answered and its outcome."""

    command: tuple[Any, ...]
    decided_at: int
    outcome: ModelOutcome


def line_tuples(lines: Any) -> Lines:
    return tuple((sku, location, quantity) for sku, location, quantity in lines)


def group_lines(lines: Lines) -> dict[tuple[str, str], list[int]]:
    """Quantities of the lines per (sku, location), in order of first appearance."""
    groups: dict[tuple[str, str], list[int]] = {}
    for sku, location, quantity in lines:
        groups.setdefault((sku, location), []).append(quantity)
    return groups
