"""Type stubs for the native module ``holdfast._core`` (rust/python)."""

from collections.abc import Sequence
from typing import Any, Literal, TypedDict, final

__all__ = [
    "FEASIBILITY",
    "MAX_BATCH",
    "MAX_FILTER_NAMES",
    "MAX_LINES",
    "MAX_LINE_QUANTITY",
    "MAX_NAME_BYTES",
    "SYSTEM_ACTOR",
    "BreakerPermit",
    "BreakerRefusal",
    "CircuitBreaker",
    "Engine",
    "InvariantViolation",
    "Outcome",
    "Rejection",
    "RuleSet",
    "RuleSetInvalid",
    "feasibility_verdict",
    "is_reservation_id",
    "line_states",
    "reason_catalogue",
]

MAX_LINES: int
MAX_LINE_QUANTITY: int
MAX_NAME_BYTES: int
MAX_BATCH: int
MAX_FILTER_NAMES: int
FEASIBILITY: str  # the feasibility check's name, as an unverified decision lists it
SYSTEM_ACTOR: str

Line = tuple[str, str, int]
"""A request line: (sku, location, quantity). Empty location: the engine chooses."""

class InvariantViolation(Exception): ...  # noqa: N818 (a violation is not an error of the caller's)
class RuleSetInvalid(ValueError): ...  # noqa: N818 (named for what the text is)

class RuleSetSummary(TypedDict):
    version: str
    strategy: str
    allow_split: bool
    default_hold_seconds: int
    max_hold_seconds: int
    channels_with_hold_times: int
    safety_stock_rules: int
    channel_caps: int
    feasibility_when_unavailable: str

@final
class RuleSet:
    """A parsed, validated rule set (immutable)."""
    @staticmethod
    def parse(text: str) -> RuleSet: ...
    @property
    def version(self) -> str: ...
    @property
    def author(self) -> str: ...
    @property
    def description(self) -> str: ...
    def summary(self) -> RuleSetSummary: ...

class Divergence(TypedDict):
    kind: str
    action: str
    active: str
    candidate: str

def reason_catalogue() -> list[tuple[str, int, str, int, bool, str]]:
    """(name, number, grpc status, grpc code, retryable, meaning) for every reason code."""

def line_states() -> list[str]: ...
def is_reservation_id(text: str) -> bool: ...
def feasibility_verdict(answer: str, when_unavailable: str) -> tuple[str, str | None]:
    """The core's verdict on a feasibility answer under a policy."""

@final
class Rejection:
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def facts(self) -> dict[str, Any]: ...

@final
class Outcome:
    @property
    def accepted(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def owner(self) -> str: ...
    @property
    def decided_at(self) -> int: ...
    @property
    def rule_version(self) -> str: ...
    @property
    def reservation_id(self) -> str | None: ...
    @property
    def position(self) -> tuple[str, str] | None: ...
    @property
    def rejection(self) -> Rejection | None: ...

class LineView(TypedDict):
    sku: str
    location: str
    quantity: int
    state: str
    promised_ship_date: str | None

class HistoryView(TypedDict):
    at: int
    action: str
    from_state: str | None
    to_state: str
    reason: str
    actor: str
    rule_version: str
    idempotency_key: str | None

class ReservationView(TypedDict):
    reservation_id: str
    tenant: str
    order_ref: str
    channel: str
    state: str
    created_at: int
    expires_at: int
    rule_version: str
    unverified: bool  # held without the feasibility check
    lines: list[LineView]
    history: list[HistoryView]

class PositionView(TypedDict):
    sku: str
    location: str
    on_hand: int
    reserved: int
    allocated: int
    picked: int
    safety_stock: int
    available: int
    source_sequence: int | None
    as_of: int | None
    received_at: int | None
    overcommitted_since: int | None

class EventSummary(TypedDict):
    seq: int
    at: int
    kind: str
    tenant: str
    actor: str
    idempotency_key: str | None
    reservation_id: str | None
    skus: list[str]
    reason: str
    rule_version: str

BatchItem = (
    tuple[Literal["reserve"], str, str, str, int, str, str, list[Line], int, bool]
    | tuple[Literal["reserve"], str, str, str, int, str, str, list[Line], int, bool, str]
    | tuple[Literal["reserve"], str, str, str, int, str, str, list[Line], int, bool, str, bool]
    | tuple[Literal["allocate", "unpick"], str, str, str, int, str, list[Line]]
    | tuple[Literal["allocate"], str, str, str, int, str, list[Line], str]
    | tuple[Literal["release"], str, str, str, int, str, str]
    | tuple[Literal["renew_hold"], str, str, str, int, str, int]
    | tuple[
        Literal["confirm_pick", "confirm_shipment"], str, str, str, int, str, list[Line], int | None
    ]
    | tuple[Literal["record_return"], str, str, str, int, str, list[Line], bool, int | None]
    | tuple[Literal["set_stock"], str, str, str, int, str, str, int, int, int | None]
    | tuple[Literal["adjust_stock"], str, str, str, int, str, str, int, str]
    | tuple[Literal["set_safety_stock"], str, str, str, int, str, str, int]
)
"""(operation, tenant, idempotency_key, actor, now, *arguments of the method of that name).
A missing ``as_of`` (None) means "at the decision time"; it stays None in the fingerprint,
so a retry without it replays. A reserve's last ``bool`` (``unverified``) is the service's
verdict that the feasibility check could not be made and the rules accept the hold without
it: the hold and its replays say so; it is not part of the fingerprint."""

class AuditDifference(TypedDict):
    sku: str
    location: str
    bucket: str
    stored: int
    from_lines: int

class Plan(TypedDict):
    """What a shared store checks before committing a proposed event, and
    what committing it changes. Objects are named ``p:SKU\x1fLOCATION``,
    ``r:ID``, ``c:LOCATION`` and ``rules``."""

    unchanged: list[str]
    headroom: list[tuple[str, int, int]]  # (position, floor, safety stock)
    # (position, on hand, reserved, allocated, picked deltas, safety stock set)
    positions: list[tuple[str, int, int, int, int, int | None]]
    touched: list[str]
    reservation: tuple[str, str, str] | None  # (id, tenant, state after)
    expiry: tuple[str, int | None] | None  # (id, due at, or None: no longer held)
    rule_version: str
    rule_version_set: str | None
    kind: str

Proposal = tuple[bytes, Plan]

@final
class Engine:
    """The commitment engine. Every mutating call takes the caller's tenant,
    idempotency key, actor and ``now`` (unix milliseconds): the core reads no clock."""

    def __new__(
        cls,
        *,
        default_hold_ms: int = 900_000,
        max_hold_ms: int = 86_400_000,
        idempotency_retention_ms: int = 86_400_000,
        node_id: int = 0,
        rule_version: str = ...,
        tenant_max_open_holds: int = 0,
        tenant_max_held_units: int = 0,
    ) -> Engine: ...
    @staticmethod
    def restore(
        snapshot: bytes,
        *,
        default_hold_ms: int = 900_000,
        max_hold_ms: int = 86_400_000,
        idempotency_retention_ms: int = 86_400_000,
        node_id: int = 0,
        tenant_max_open_holds: int = 0,
        tenant_max_held_units: int = 0,
    ) -> Engine: ...
    def reserve(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        order_ref: str,
        channel: str,
        lines: Sequence[Line],
        hold_seconds: int = 0,
        allow_partial: bool = False,
        destination_region: str = "",
        unverified: bool = False,
    ) -> Outcome: ...
    def allocate(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        lines: Sequence[Line] | None = None,
        ship_by: str = ...,
    ) -> Outcome:
        """``ship_by`` ("YYYY-MM-DD", "" for none): refuse CUTOFF_MISSED when a
        location with a capacity rule would promise a later ship date."""
    def release(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        note: str = ...,
    ) -> Outcome: ...
    def renew_hold(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        hold_seconds: int = 0,
    ) -> Outcome: ...
    def confirm_pick(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        lines: Sequence[Line] | None = None,
        as_of: int | None = None,
    ) -> Outcome: ...
    def unpick(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        lines: Sequence[Line] | None = None,
    ) -> Outcome: ...
    def confirm_shipment(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        lines: Sequence[Line] | None = None,
        as_of: int | None = None,
    ) -> Outcome: ...
    def record_return(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        reservation_id: str,
        lines: Sequence[Line] | None = None,
        restock: bool = True,
        as_of: int | None = None,
    ) -> Outcome: ...
    def set_stock(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        sku: str,
        location: str,
        on_hand: int,
        source_sequence: int,
        as_of: int | None = None,
    ) -> Outcome: ...
    def adjust_stock(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        sku: str,
        location: str,
        delta: int,
        adjustment_reason: str,
    ) -> Outcome: ...
    def set_safety_stock(
        self,
        tenant: str,
        idempotency_key: str,
        actor: str,
        now: int,
        sku: str,
        location: str,
        quantity: int,
    ) -> Outcome: ...
    def execute_batch(self, requests: list[BatchItem]) -> list[Outcome]: ...
    def would_decide(self, item: BatchItem) -> bool:
        """False when the item's limits refuse it or its idempotency key is live."""
    def propose(self, item: BatchItem, mint: int) -> tuple[Outcome, Proposal | None]: ...
    def propose_expiry(self, reservation_id: str, now: int) -> Proposal | None: ...
    def propose_purge(self, now: int) -> Proposal | None: ...
    def propose_rule_version(self, version: str, actor: str, now: int) -> Proposal: ...
    def apply_committed(self, events: list[tuple[int, bytes]]) -> None: ...
    def due_holds(self, now: int, limit: int) -> list[str]: ...
    def encode_results(
        self, tenant: str, outcomes: list[Outcome], answers: list[int], committed_later: bool
    ) -> list[bytes | None]: ...
    def expire_due(self, now: int) -> list[str]: ...
    def take_expired_count(self) -> int: ...
    def purge_idempotency(self, now: int) -> int: ...
    def set_rule_version(self, version: str, actor: str, now: int) -> None: ...
    @property
    def rule_version(self) -> str: ...
    def drain_journal(self) -> list[tuple[int, bytes]]: ...
    @property
    def next_seq(self) -> int: ...
    def replay(self, events: list[bytes]) -> None: ...
    @staticmethod
    def event_json(event: bytes) -> str: ...
    @staticmethod
    def event_summary(event: bytes) -> EventSummary: ...
    def snapshot(self) -> bytes: ...
    def builtin_rules(self, version: str) -> RuleSet: ...
    def active_rules(self) -> str: ...
    def active_rules_summary(self) -> RuleSetSummary: ...
    def shadow_decisions(self) -> int: ...
    def activate_rules(self, rules: RuleSet, actor: str, now: int) -> None: ...
    def install_rules(self, rules: RuleSet) -> None: ...
    def set_shadow(self, candidate: RuleSet | None = None) -> None: ...
    def shadow_version(self) -> str | None: ...
    def take_divergences(self) -> list[Divergence]: ...
    def audit(self) -> list[AuditDifference]: ...
    def inject_bucket_drift(self, sku: str, location: str, bucket: str, delta: int) -> bool: ...
    def check_invariants(self) -> None: ...
    def reservation(self, tenant: str, reservation_id: str) -> ReservationView | None: ...
    def position(self, sku: str, location: str) -> PositionView | None: ...
    def positions(
        self, skus: list[str] = ..., locations: list[str] = ...
    ) -> list[PositionView]: ...
    def overcommitted(self) -> list[PositionView]: ...
    def open_holds(self) -> int: ...
    def reservation_count(self) -> int: ...
    def idempotency_key_count(self) -> int: ...
    def hold_ages(self, now: int) -> tuple[int | None, int, int | None]:
        """(unix ms the oldest open hold was placed, None when none is open;
        holds past their expiry not yet expired; the earliest due time among
        those, None when there are none)."""

class BreakerTransition(TypedDict):
    from_state: str
    to_state: str
    at: int
    cause: str
    """failure_rate, slow_call_rate, wait_elapsed, probes_passed, forced_open, disabled or reset."""

class BreakerMetrics(TypedDict):
    state: str
    buffered_calls: int
    failed_calls: int
    slow_calls: int
    failure_rate_bp: int | None
    """Basis points (hundredths of a percent, rounded down); None until enough calls."""
    slow_call_rate_bp: int | None
    not_permitted_calls: int
    """Calls refused since the breaker entered its current state."""

@final
class BreakerPermit:
    """Leave to call the dependency once."""

    @property
    def permitted(self) -> Literal[True]: ...
    @property
    def state(self) -> str: ...

@final
class BreakerRefusal:
    """The breaker said no: do not call the dependency; answer with ``reason``."""

    @property
    def permitted(self) -> Literal[False]: ...
    @property
    def breaker(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def retry_after_ms(self) -> int: ...
    @property
    def reason(self) -> str: ...
    @property
    def message(self) -> str: ...

@final
class CircuitBreaker:
    """A dependency's circuit breaker (resilience4j semantics, count-based window).
    Every call takes ``now_ms`` (unix milliseconds): the core reads no clock."""

    def __new__(
        cls,
        name: str,
        *,
        failure_rate_threshold: int = 50,
        slow_call_rate_threshold: int = 100,
        slow_call_duration_ms: int = 60_000,
        sliding_window_size: int = 100,
        minimum_number_of_calls: int = 100,
        wait_in_open_ms: int = 60_000,
        permitted_calls_in_half_open: int = 10,
        retry_hint_ms: int = 1_000,
    ) -> CircuitBreaker: ...
    @property
    def name(self) -> str: ...
    def state(self) -> str: ...
    def try_acquire(self, now_ms: int) -> BreakerPermit | BreakerRefusal: ...
    def on_success(self, now_ms: int, duration_ms: int) -> None: ...
    def on_failure(self, now_ms: int, duration_ms: int) -> None: ...
    def force_open(self, now_ms: int) -> bool: ...
    def disable(self, now_ms: int) -> bool: ...
    def reset(self, now_ms: int) -> None: ...
    def metrics(self) -> BreakerMetrics: ...
    def drain_transitions(self) -> list[BreakerTransition]: ...
    def poll(self, now_ms: int) -> BreakerTransition | None: ...
    def release_permit(self) -> None: ...
