"""Proto messages <-> the engine's values.

Requests become the engine's batch items ``(operation, tenant, key, actor,
now, *arguments)``, the same for a unary call and for one operation of a
batch, so both are decided and refused alike. Views and outcomes become
response messages.

Only what the core cannot represent is refused here, with INVALID_ARGUMENT
naming the field: a negative count (the core's counts are unsigned), an
unset operation, a missing required timestamp, a malformed Timestamp. Every
other limit is the core's to check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

from google.protobuf import timestamp_pb2

from holdfast import MAX_FILTER_NAMES, Outcome
from holdfast.errors import Refusal
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

if TYPE_CHECKING:  # names of the stub only
    from holdfast._core import BatchItem, Line, PositionView, ReservationView

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1
MAX_NANOS = 999_999_999


def _saturate(value: int) -> int:
    """Into int64: a value past it is out of the core's limits anyway, and the
    core then names the field rather than the binding failing to convert it."""
    return max(I64_MIN, min(I64_MAX, value))


# Time ----------------------------------------------------------------------


def ms_from_timestamp(timestamp: timestamp_pb2.Timestamp, field: str) -> int:
    if not 0 <= timestamp.nanos <= MAX_NANOS:
        raise Refusal.invalid(field, "nanos must be between 0 and 999999999")
    return _saturate(timestamp.seconds * 1000 + timestamp.nanos // 1_000_000)


def optional_ms(message: Any, field: str) -> int | None:
    """An optional Timestamp field: None when unset, which the core reads as
    "at the decision time" (and keeps as None in the idempotency fingerprint)."""
    if not message.HasField(field):
        return None
    return ms_from_timestamp(getattr(message, field), field)


def required_ms(message: Any, field: str) -> int:
    if not message.HasField(field):
        raise Refusal.invalid(field, "is required")
    return ms_from_timestamp(getattr(message, field), field)


def timestamp(ms: int) -> timestamp_pb2.Timestamp:
    seconds, millis = divmod(ms, 1000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=millis * 1_000_000)


# Requests ------------------------------------------------------------------


def lines(requested: Sequence[pb.LineRequest]) -> list[Line]:
    result: list[Line] = []
    for i, line in enumerate(requested):
        if line.quantity < 0:
            raise Refusal.invalid(f"lines[{i}].quantity", "must be at least 1")
        result.append((line.sku, line.location, line.quantity))
    return result


def not_negative(value: int, field: str) -> int:
    if value < 0:
        raise Refusal.invalid(field, "must not be negative")
    return value


def reserve(r: pb.ReserveRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "reserve",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.order_ref,
        r.channel,
        lines(r.lines),
        r.hold_seconds,
        r.allow_partial,
        r.destination_region,
    )


def allocate(r: pb.AllocateRequest, tenant: str, actor: str, now: int) -> BatchItem:
    # The core checks ship_by's form (INVALID_ARGUMENT naming the field).
    return (
        "allocate",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.reservation_id,
        lines(r.lines),
        r.ship_by,
    )


def release(r: pb.ReleaseRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return ("release", tenant, r.idempotency_key, actor, now, r.reservation_id, r.note)


def renew_hold(r: pb.RenewHoldRequest, tenant: str, actor: str, now: int) -> BatchItem:
    key = r.idempotency_key
    return ("renew_hold", tenant, key, actor, now, r.reservation_id, r.hold_seconds)


def confirm_pick(r: pb.ConfirmPickRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "confirm_pick",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.reservation_id,
        lines(r.lines),
        optional_ms(r, "as_of"),
    )


def unpick(r: pb.UnpickRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return ("unpick", tenant, r.idempotency_key, actor, now, r.reservation_id, lines(r.lines))


def confirm_shipment(r: pb.ConfirmShipmentRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "confirm_shipment",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.reservation_id,
        lines(r.lines),
        optional_ms(r, "as_of"),
    )


def record_return(r: pb.RecordReturnRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "record_return",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.reservation_id,
        lines(r.lines),
        r.restock,
        optional_ms(r, "as_of"),
    )


def set_stock(r: pb.SetStockRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "set_stock",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.sku,
        r.location,
        not_negative(r.on_hand, "on_hand"),
        r.source_sequence,
        required_ms(r, "as_of"),
    )


def adjust_stock(r: pb.AdjustStockRequest, tenant: str, actor: str, now: int) -> BatchItem:
    return (
        "adjust_stock",
        tenant,
        r.idempotency_key,
        actor,
        now,
        r.sku,
        r.location,
        r.delta,
        r.adjustment_reason,
    )


ItemBuilder: TypeAlias = "Callable[[Any, str, str, int], BatchItem]"

# A batch operation's oneof field -> how its request becomes an item.
OPERATIONS: dict[str, ItemBuilder] = {
    "reserve": reserve,
    "allocate": allocate,
    "release": release,
    "renew_hold": renew_hold,
    "confirm_pick": confirm_pick,
    "unpick": unpick,
    "confirm_shipment": confirm_shipment,
    "record_return": record_return,
    "set_stock": set_stock,
    "adjust_stock": adjust_stock,
}


def operation_kind(operation: pb.Operation, index: int) -> str:
    """Which request an operation of a batch carries; unset is refused."""
    kind = operation.WhichOneof("operation")
    if kind is None:
        raise Refusal.invalid(f"operations[{index}]", "no operation is set")
    return kind


def availability_filter(values: Sequence[str], field: str) -> list[str]:
    if len(values) > MAX_FILTER_NAMES:
        raise Refusal.invalid(field, f"must have at most {MAX_FILTER_NAMES} entries")
    return list(values)


# Responses -----------------------------------------------------------------


def _line_state(state: str | None) -> pb.LineState.ValueType:
    if state is None:
        return pb.LINE_STATE_UNSPECIFIED
    return pb.LineState.Value("LINE_STATE_" + state)


def _reason(name: str) -> reasons_pb2.ReasonCode.ValueType:
    return reasons_pb2.ReasonCode.Value(name)


def reservation(view: ReservationView) -> pb.Reservation:
    message = pb.Reservation(
        reservation_id=view["reservation_id"],
        order_ref=view["order_ref"],
        channel=view["channel"],
        state=_line_state(view["state"]),
        created_at=timestamp(view["created_at"]),
        expires_at=timestamp(view["expires_at"]),
        rule_version=view["rule_version"],
    )
    for line in view["lines"]:
        message.lines.add(
            sku=line["sku"],
            location=line["location"],
            quantity=line["quantity"],
            state=_line_state(line["state"]),
            promised_ship_date=line["promised_ship_date"] or "",
        )
    for entry in view["history"]:
        message.history.add(
            action=entry["action"],
            from_state=_line_state(entry["from_state"]),
            to_state=_line_state(entry["to_state"]),
            at=timestamp(entry["at"]),
            actor=entry["actor"],
            reason=_reason(entry["reason"]),
            rule_version=entry["rule_version"],
            idempotency_key=entry["idempotency_key"] or "",
        )
    return message


def position(view: PositionView) -> pb.StockPosition:
    message = pb.StockPosition(
        sku=view["sku"],
        location=view["location"],
        on_hand=view["on_hand"],
        reserved=view["reserved"],
        allocated=view["allocated"],
        picked=view["picked"],
        safety_stock=view["safety_stock"],
        available=view["available"],
        source_sequence=view["source_sequence"] or 0,
    )
    for field in ("as_of", "received_at", "overcommitted_since"):
        ms = view[field]
        if ms is not None:
            getattr(message, field).CopyFrom(timestamp(ms))
    return message


def decision(outcome: Outcome, committed_at: int | None = None) -> pb.Decision:
    """``committed_at`` is when the decision became durable; while state is
    in memory there is no such moment apart from the decision itself."""
    return pb.Decision(
        reason=_reason(outcome.reason),
        decided_at=timestamp(outcome.decided_at),
        committed_at=timestamp(outcome.decided_at if committed_at is None else committed_at),
        rule_version=outcome.rule_version,
        owner=pb.Owner.Value("OWNER_" + outcome.owner.upper()),
        replayed=outcome.replayed,
    )
