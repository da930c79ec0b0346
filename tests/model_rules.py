"""The pieces of the pure-Python model that hold no state: limits, line states,
rejections with their facts, input validation and reservation ids.

Mirrors rust/core/src (limits.rs, state.rs, error.rs, engine/validate.rs,
ids.rs). Only tests may carry a second copy of the rules (see
ARCHITECTURE.md section 2): this is the oracle for the model-based tests.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from typing import Any

MAX_NAME_BYTES = 128
MAX_NOTE_BYTES = 1024
MAX_LINES = 100
MAX_LINE_QUANTITY = 1_000_000_000
MAX_ON_HAND = 1_000_000_000_000
MAX_TIMESTAMP = 253_402_300_799_999  # the last millisecond of the year 9999
U64_MAX = 2**64 - 1
SYSTEM_ACTOR = "holdfast"

RESERVED, ALLOCATED, PICKED = "RESERVED", "ALLOCATED", "PICKED"
SHIPPED, RETURNED, RELEASED, EXPIRED = "SHIPPED", "RETURNED", "RELEASED", "EXPIRED"
ACTIVE = (RESERVED, ALLOCATED, PICKED)  # least advanced first; these hold stock
BUCKET = {RESERVED: "reserved", ALLOCATED: "allocated", PICKED: "picked"}

# The transition table: for each action, the line states it moves and where to.
TRANSITIONS: dict[str, dict[str, str]] = {
    "allocate": {RESERVED: ALLOCATED},
    "release": {RESERVED: RELEASED, ALLOCATED: RELEASED},
    "renew_hold": {RESERVED: RESERVED},
    "expire": {RESERVED: EXPIRED},
    "pick": {ALLOCATED: PICKED},
    "unpick": {PICKED: ALLOCATED},
    "ship": {PICKED: SHIPPED},
    "return": {SHIPPED: RETURNED},
}
# Who owns each kind of decision: holdfast the commitments, the warehouse the facts.
OWNER = dict.fromkeys(
    ["reserve", "allocate", "release", "renew_hold", "expire", "set_safety_stock"], "holdfast"
) | dict.fromkeys(["pick", "unpick", "ship", "return", "set_stock", "adjust_stock"], "warehouse")
ACCEPTED_REASON = {
    "allocate": "ALLOCATED",
    "release": "RELEASED",
    "pick": "PICKED",
    "unpick": "UNPICKED",
    "ship": "SHIPPED",
    "return": "RETURNED",
}


def reservation_state(states: list[str]) -> str:
    """LineState::of_reservation: the least advanced active line, else what
    happened to the goods (shipped, returned), else released, else expired."""
    for state in ACTIVE:
        if state in states:
            return state
    for state in (SHIPPED, RETURNED, RELEASED):
        if state in states:
            return state
    return EXPIRED


def _serde_name(name: str) -> str:
    """Rejection facts name actions and states as views do ("allocate", "RELEASED")."""
    return name


def _quoted(text: str) -> str:
    """Rust's `{:?}` of a string, for the names the tests use."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class ModelRejection:
    reason: str
    message: str
    facts: dict[str, Any] = field(hash=False)


def invalid(field_name: str, why: str) -> ModelRejection:
    return ModelRejection(
        "INVALID_ARGUMENT", f"invalid {field_name}: {why}", {"field": field_name, "reason": why}
    )


def unknown_sku(sku: str) -> ModelRejection:
    return ModelRejection("UNKNOWN_SKU", f"unknown SKU {_quoted(sku)}", {"sku": sku})


def unknown_location(location: str) -> ModelRejection:
    message = f"unknown location {_quoted(location)}"
    return ModelRejection("UNKNOWN_LOCATION", message, {"location": location})


def insufficient_stock(sku: str, location: str, requested: int, available: int) -> ModelRejection:
    message = (
        f"insufficient stock of {_quoted(sku)} at {_quoted(location)}: "
        f"requested {requested}, available {available}"
    )
    facts = {"sku": sku, "location": location, "requested": requested, "available": available}
    return ModelRejection("INSUFFICIENT_STOCK", message, facts)


def not_found(reservation_id: str) -> ModelRejection:
    message = f"reservation {reservation_id} not found"
    return ModelRejection("RESERVATION_NOT_FOUND", message, {"reservation_id": reservation_id})


def expired(reservation_id: str, expired_at: int) -> ModelRejection:
    message = f"reservation {reservation_id} expired at {expired_at} ms"
    facts = {"reservation_id": reservation_id, "expired_at": expired_at}
    return ModelRejection("RESERVATION_EXPIRED", message, facts)


def invalid_transition(reservation_id: str, action: str, state: str) -> ModelRejection:
    message = f"cannot {action} reservation {reservation_id} in state {state}"
    facts = {
        "reservation_id": reservation_id,
        "action": _serde_name(action),
        "from": _serde_name(state),
    }
    return ModelRejection("INVALID_TRANSITION", message, facts)


def quantity_exceeds(
    reservation_id: str, action: str, sku: str, location: str, requested: int, eligible: int
) -> ModelRejection:
    message = (
        f"cannot {action} {requested} of {_quoted(sku)} at {_quoted(location)} on reservation "
        f"{reservation_id}: it has {eligible} in a state that allows it"
    )
    facts = {
        "reservation_id": reservation_id,
        "action": _serde_name(action),
        "sku": sku,
        "location": location,
        "requested": requested,
        "eligible": eligible,
    }
    return ModelRejection("QUANTITY_EXCEEDS_RESERVATION", message, facts)


def quantity_overflow(sku: str, location: str, bucket: str) -> ModelRejection:
    message = f"{bucket} of {_quoted(sku)} at {_quoted(location)} would overflow"
    facts = {"sku": sku, "location": location, "bucket": bucket}
    return ModelRejection("QUANTITY_OVERFLOW", message, facts)


def insufficient_on_hand(sku: str, location: str, on_hand: int, delta: int) -> ModelRejection:
    message = (
        f"adjusting {_quoted(sku)} at {_quoted(location)} by {delta} "
        f"would leave on hand {on_hand} below zero"
    )
    facts = {"sku": sku, "location": location, "on_hand": on_hand, "delta": delta}
    return ModelRejection("INSUFFICIENT_ON_HAND", message, facts)


def key_reused(key: str) -> ModelRejection:
    message = f"idempotency key {_quoted(key)} was already used with a different request"
    return ModelRejection("IDEMPOTENCY_KEY_REUSED", message, {"idempotency_key": key})


def stale_update(sku: str, location: str, sequence: int, applied: int) -> ModelRejection:
    message = (
        f"stale update of {_quoted(sku)} at {_quoted(location)}: "
        f"sequence {sequence} is not after the applied {applied}"
    )
    facts = {
        "sku": sku,
        "location": location,
        "source_sequence": sequence,
        "applied_sequence": applied,
    }
    return ModelRejection("STALE_UPDATE", message, facts)


# --- validation (limits.rs, engine/validate.rs): the first problem found, or None.


def name_problem(value: str, may_be_empty: bool = False) -> str | None:
    if not value and not may_be_empty:
        return "must not be empty"
    if len(value.encode()) > MAX_NAME_BYTES:
        return f"longer than {MAX_NAME_BYTES} bytes"
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "contains control characters"
    return None


def check_name(field_name: str, value: str, may_be_empty: bool = False) -> ModelRejection | None:
    problem = name_problem(value, may_be_empty)
    return invalid(field_name, problem) if problem else None


def check_timestamp(field_name: str, value: int) -> ModelRejection | None:
    if not 0 <= value <= MAX_TIMESTAMP:
        return invalid(field_name, "must be unix milliseconds between 1970 and 9999")
    return None


# The longest hold any rule set may allow (the core's hard limit): 30 days.
MAX_HOLD_SECONDS = 30 * 24 * 60 * 60


def check_hold(hold_seconds: int, max_hold_ms: int) -> ModelRejection | None:
    if hold_seconds < 0:
        return invalid("hold_seconds", "must not be negative")
    if hold_seconds * 1000 > max_hold_ms:
        return invalid("hold_seconds", f"must be at most {max_hold_ms // 1000} seconds")
    return None


def check_lines(lines: tuple[tuple[str, str, int], ...], required: bool) -> ModelRejection | None:
    if required and not lines:
        return invalid("lines", "must have at least one line")
    if len(lines) > MAX_LINES:
        return invalid("lines", f"must have at most {MAX_LINES} lines")
    for i, (sku, location, quantity) in enumerate(lines):
        if quantity == 0:
            quantity_problem: str | None = "must be at least 1"
        elif quantity > MAX_LINE_QUANTITY:
            quantity_problem = f"must be at most {MAX_LINE_QUANTITY}"
        else:
            quantity_problem = None
        problems = [
            ("sku", name_problem(sku)),
            ("location", name_problem(location, may_be_empty=True)),
            ("quantity", quantity_problem),
        ]
        for name, problem in problems:
            if problem:
                return invalid(f"lines[{i}].{name}", problem)
    return None


def check_reservation_id(text: str) -> ModelRejection | None:
    if not text:
        return invalid("reservation_id", "must not be empty")
    return None if parse_id(text) else invalid("reservation_id", "is not a UUID")


def check_quantity_cap(field_name: str, value: int) -> ModelRejection | None:
    if value > MAX_ON_HAND:
        return invalid(field_name, f"must be at most {MAX_ON_HAND}")
    return None


def check_delta(delta: int) -> ModelRejection | None:
    if delta == 0:
        return invalid("delta", "must not be zero")
    if abs(delta) > MAX_ON_HAND:
        return invalid("delta", f"must be within ±{MAX_ON_HAND}")
    return None


def first_problem(*checks: ModelRejection | None) -> ModelRejection | None:
    return next((check for check in checks if check is not None), None)


# --- reservation ids (ids.rs): UUIDv7 from the decision time, node id and a counter.

_HEX = frozenset("0123456789abcdefABCDEF")


def mint(now_ms: int, node: int, counter: int) -> str:
    node_bytes = node.to_bytes(4, "big")
    raw = bytearray((max(now_ms, 0) & (2**48 - 1)).to_bytes(6, "big"))
    raw += bytes([0x70 | (node_bytes[1] & 0x0F), node_bytes[2], 0x80, node_bytes[3]])
    raw += (counter & (2**48 - 1)).to_bytes(6, "big")
    return str(uuid.UUID(bytes=bytes(raw)))


def parse_id(text: str) -> str | None:
    """`Uuid::try_parse`: simple, hyphenated, {braced} or urn:uuid: forms only;
    the canonical (lower-case, hyphenated) text, or None."""
    if len(text) == 45 and text[:9].lower() == "urn:uuid:":
        text = text[9:]
    elif len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    if len(text) == 36:
        if any(text[i] != "-" for i in (8, 13, 18, 23)):
            return None
        digits = text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:]
    elif len(text) == 32:
        digits = text
    else:
        return None
    if not set(digits) <= _HEX:
        return None
    return str(uuid.UUID(hex=digits))


def check_note(note: str) -> ModelRejection | None:
    if len(note.encode()) > MAX_NOTE_BYTES:
        return invalid("note", f"longer than {MAX_NOTE_BYTES} bytes")
    return None
