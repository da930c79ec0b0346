"""holdfast: inventory reservations that say why.

The commitment engine lives in Rust (``holdfast._core``); this package wires
it to the outside world. Import the engine from here, not from ``_core``.
"""

from holdfast._core import (
    FEASIBILITY,
    MAX_BATCH,
    MAX_FILTER_NAMES,
    MAX_LINE_QUANTITY,
    MAX_LINES,
    MAX_NAME_BYTES,
    SYSTEM_ACTOR,
    BreakerPermit,
    BreakerRefusal,
    CircuitBreaker,
    Engine,
    InvariantViolation,
    Outcome,
    Rejection,
    RuleSet,
    RuleSetInvalid,
    is_reservation_id,
    line_states,
    reason_catalogue,
)
from holdfast.reasons import REASONS, Reason

__all__ = [
    "FEASIBILITY",
    "MAX_BATCH",
    "MAX_FILTER_NAMES",
    "MAX_LINES",
    "MAX_LINE_QUANTITY",
    "MAX_NAME_BYTES",
    "REASONS",
    "SYSTEM_ACTOR",
    "BreakerPermit",
    "BreakerRefusal",
    "CircuitBreaker",
    "Engine",
    "InvariantViolation",
    "Outcome",
    "Reason",
    "Rejection",
    "RuleSet",
    "RuleSetInvalid",
    "is_reservation_id",
    "line_states",
    "reason_catalogue",
]
