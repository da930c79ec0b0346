"""Operations the load generator sends and the outcomes it records.

An outcome is ``ok`` (the call did what was asked), ``refused`` (holdfast
decided against it for a business reason: INSUFFICIENT_STOCK, STALE_UPDATE,
RESERVATION_EXPIRED, ...; expected under load and not an error) or ``error``
(the call was not decided: UNAVAILABLE, DEADLINE_EXCEEDED, OVERLOADED, or a
request the load generator should never have sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from google.rpc import status_pb2

from holdfast.client.calls import error_from_rpc_error
from holdfast.client.errors import HoldfastError, error_from_rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

OK, REFUSED, ERROR = "ok", "refused", "error"

# Reasons that mean the call was not decided, or was malformed: errors, not refusals.
ERROR_REASONS = frozenset(
    {
        "OVERLOADED",
        "DEPENDENCY_UNAVAILABLE",
        "IDEMPOTENCY_IN_FLIGHT",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "QUOTA_EXCEEDED",
        "INVALID_ARGUMENT",
        "IDEMPOTENCY_KEY_REUSED",
    }
)


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of operation: its unary method and its field in ``Operation`` (None: read)."""

    name: str
    method: str
    batch_field: str | None

    @property
    def mutating(self) -> bool:
        return self.batch_field is not None


KINDS = {
    k.name: k
    for k in (
        Kind("reserve", "Reserve", "reserve"),
        Kind("allocate", "Allocate", "allocate"),
        Kind("release", "Release", "release"),
        Kind("confirm_pick", "ConfirmPick", "confirm_pick"),
        Kind("confirm_shipment", "ConfirmShipment", "confirm_shipment"),
        Kind("set_stock", "SetStock", "set_stock"),
        Kind("adjust_stock", "AdjustStock", "adjust_stock"),
        Kind("get_availability", "GetAvailability", None),
        Kind("get_reservation", "GetReservation", None),
    )
}


@dataclass(slots=True)
class Op:
    """One operation: its kind, its request, and what the scenario wants to remember."""

    kind: Kind
    request: Any  # the request message of kind.method
    sku: str = ""
    units: int = 0

    def as_batch_operation(self) -> pb.Operation:
        assert self.kind.batch_field is not None, f"{self.kind.name} is not batchable"
        operation = pb.Operation()
        getattr(operation, self.kind.batch_field).CopyFrom(self.request)
        return operation


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # OK, REFUSED or ERROR
    reason: str  # RESERVED, INSUFFICIENT_STOCK, UNAVAILABLE, ...
    reservation_id: str = ""
    units: int = 0  # units held by a reserve, as answered
    replayed: bool = False

    def signature(self) -> tuple[str, str, str]:
        """What a replay must give back: status, reason and reservation id."""
        return (self.status, self.reason, self.reservation_id)


def reason_name(number: int) -> str:
    try:
        return reasons_pb2.ReasonCode.Name(number)  # type: ignore[arg-type]
    except ValueError:
        return f"REASON_{number}"


def from_response(response: Message) -> Outcome:
    """The outcome of a call that returned a response."""
    if isinstance(response, pb.ReserveResponse | pb.ReservationResponse):
        held = sum(
            line.quantity
            for line in response.reservation.lines
            if line.state == pb.LINE_STATE_RESERVED
        )
        return Outcome(
            OK,
            reason_name(response.decision.reason),
            response.reservation.reservation_id,
            held if isinstance(response, pb.ReserveResponse) else 0,
            response.decision.replayed,
        )
    if isinstance(response, pb.StockResponse):
        return Outcome(OK, reason_name(response.decision.reason), "", 0, response.decision.replayed)
    if isinstance(response, pb.Reservation):
        return Outcome(OK, "READ", response.reservation_id)
    return Outcome(OK, "READ")


def from_error(error: HoldfastError) -> Outcome:
    if not error.reason:
        return Outcome(ERROR, error.code.name)
    if error.reason in ERROR_REASONS:
        return Outcome(ERROR, error.reason)
    return Outcome(REFUSED, error.reason)


def from_rpc_error(rpc_error: grpc.RpcError) -> Outcome:
    """The outcome of a failed unary call (or a failed ExecuteBatch)."""
    return from_error(error_from_rpc_error(rpc_error, 1, aio=True))


def from_batch_status(status: status_pb2.Status) -> Outcome:
    return from_error(error_from_rpc_status(status))


def from_batch_result(result: pb.OperationResult) -> Outcome:
    which = result.WhichOneof("result")
    if which == "error":
        return from_batch_status(result.error)
    if which is None:
        return Outcome(ERROR, "EMPTY_RESULT")
    answer: Message = getattr(result, which)
    return from_response(answer)
