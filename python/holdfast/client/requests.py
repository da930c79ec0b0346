"""Request messages built from plain Python values, keys minted once.

Both clients build their requests here, so a reserve sent by ``Client`` and by
``AsyncClient`` is the same message. Batch callers use the same builders and
wrap them: ``Operation(reserve=reserve_request([...]))``.

Every mutating request gets its idempotency key here, once: the caller's, or a
fresh UUID4. The request object, key included, is then sent unchanged on
every retry, which is what makes a retry safe.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from holdfast.v1 import inventory_pb2 as pb

__all__ = [
    "DayLike",
    "LineLike",
    "TimeLike",
    "adjust_stock_request",
    "allocate_request",
    "confirm_pick_request",
    "confirm_shipment_request",
    "ensure_batch_keys",
    "get_availability_request",
    "get_reservation_request",
    "line_requests",
    "list_events_request",
    "mint_key",
    "record_return_request",
    "release_request",
    "renew_hold_request",
    "reserve_request",
    "set_stock_request",
    "ship_by_text",
    "timestamp",
    "unpick_request",
    "watch_events_request",
]

LineLike = pb.LineRequest | tuple[str, str, int]
"""A request line: a ``LineRequest`` or ``(sku, location, quantity)``; an empty
location lets holdfast choose (reserve) or matches any (the other calls)."""

TimeLike = datetime | Timestamp
"""A moment: a timezone-aware ``datetime`` or a protobuf ``Timestamp``."""

DayLike = date | str
"""A calendar day: a ``datetime.date`` or its text ``"YYYY-MM-DD"`` (sent as given;
the server checks its form)."""


def mint_key() -> str:
    """A fresh idempotency key (UUID4, 36 characters)."""
    return str(uuid.uuid4())


def _key(idempotency_key: str | None) -> str:
    return mint_key() if idempotency_key is None else idempotency_key


def line_requests(lines: Iterable[LineLike]) -> list[pb.LineRequest]:
    """``LineRequest`` messages for the given lines (protos are copied as they are)."""
    out: list[pb.LineRequest] = []
    for line in lines:
        if isinstance(line, pb.LineRequest):
            copy = pb.LineRequest()
            copy.CopyFrom(line)
            out.append(copy)
        else:
            sku, location, quantity = line
            out.append(pb.LineRequest(sku=sku, location=location, quantity=quantity))
    return out


def timestamp(moment: TimeLike) -> Timestamp:
    """A ``Timestamp`` for a moment; a naive ``datetime`` is refused (which zone?)."""
    if isinstance(moment, Timestamp):
        copy = Timestamp()
        copy.CopyFrom(moment)
        return copy
    if moment.tzinfo is None:
        raise ValueError("a datetime must be timezone-aware (e.g. datetime.now(UTC))")
    stamp = Timestamp()
    stamp.FromDatetime(moment.astimezone(UTC))
    return stamp


def _optional_timestamp(moment: TimeLike | None) -> Timestamp | None:
    return None if moment is None else timestamp(moment)


def ship_by_text(ship_by: DayLike | None) -> str:
    """``AllocateRequest.ship_by``: "" for none, a date as "YYYY-MM-DD".

    A ``datetime`` is refused: the day is the shipping location's local day,
    and which day a moment falls on depends on a time zone only the server's
    rule set knows.
    """
    if ship_by is None:
        return ""
    if isinstance(ship_by, datetime):
        raise ValueError("ship_by is a day: pass a datetime.date or 'YYYY-MM-DD', not a datetime")
    if isinstance(ship_by, date):
        return ship_by.isoformat()
    return ship_by


def reserve_request(
    lines: Iterable[LineLike],
    *,
    order_ref: str = "",
    channel: str = "",
    hold_seconds: int = 0,
    allow_partial: bool = False,
    destination_region: str = "",
    idempotency_key: str | None = None,
) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=_key(idempotency_key),
        order_ref=order_ref,
        channel=channel,
        lines=line_requests(lines),
        hold_seconds=hold_seconds,
        allow_partial=allow_partial,
        destination_region=destination_region,
    )


def allocate_request(
    reservation_id: str,
    lines: Iterable[LineLike] = (),
    *,
    ship_by: DayLike | None = None,
    idempotency_key: str | None = None,
) -> pb.AllocateRequest:
    return pb.AllocateRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        lines=line_requests(lines),
        ship_by=ship_by_text(ship_by),
    )


def release_request(
    reservation_id: str, *, note: str = "", idempotency_key: str | None = None
) -> pb.ReleaseRequest:
    return pb.ReleaseRequest(
        idempotency_key=_key(idempotency_key), reservation_id=reservation_id, note=note
    )


def renew_hold_request(
    reservation_id: str, *, hold_seconds: int = 0, idempotency_key: str | None = None
) -> pb.RenewHoldRequest:
    return pb.RenewHoldRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        hold_seconds=hold_seconds,
    )


def confirm_pick_request(
    reservation_id: str,
    lines: Iterable[LineLike] = (),
    *,
    as_of: TimeLike | None = None,
    idempotency_key: str | None = None,
) -> pb.ConfirmPickRequest:
    return pb.ConfirmPickRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        lines=line_requests(lines),
        as_of=_optional_timestamp(as_of),
    )


def unpick_request(
    reservation_id: str,
    lines: Iterable[LineLike] = (),
    *,
    idempotency_key: str | None = None,
) -> pb.UnpickRequest:
    return pb.UnpickRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        lines=line_requests(lines),
    )


def confirm_shipment_request(
    reservation_id: str,
    lines: Iterable[LineLike] = (),
    *,
    as_of: TimeLike | None = None,
    idempotency_key: str | None = None,
) -> pb.ConfirmShipmentRequest:
    return pb.ConfirmShipmentRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        lines=line_requests(lines),
        as_of=_optional_timestamp(as_of),
    )


def record_return_request(
    reservation_id: str,
    lines: Iterable[LineLike] = (),
    *,
    restock: bool = False,
    as_of: TimeLike | None = None,
    idempotency_key: str | None = None,
) -> pb.RecordReturnRequest:
    return pb.RecordReturnRequest(
        idempotency_key=_key(idempotency_key),
        reservation_id=reservation_id,
        lines=line_requests(lines),
        restock=restock,
        as_of=_optional_timestamp(as_of),
    )


def set_stock_request(
    sku: str,
    location: str,
    on_hand: int,
    *,
    source_sequence: int,
    as_of: TimeLike | None = None,
    idempotency_key: str | None = None,
) -> pb.SetStockRequest:
    """A warehouse count. ``as_of`` defaults to this machine's clock, now."""
    return pb.SetStockRequest(
        idempotency_key=_key(idempotency_key),
        sku=sku,
        location=location,
        on_hand=on_hand,
        source_sequence=source_sequence,
        as_of=timestamp(datetime.now(UTC) if as_of is None else as_of),
    )


def adjust_stock_request(
    sku: str,
    location: str,
    delta: int,
    *,
    reason: str,
    idempotency_key: str | None = None,
) -> pb.AdjustStockRequest:
    return pb.AdjustStockRequest(
        idempotency_key=_key(idempotency_key),
        sku=sku,
        location=location,
        delta=delta,
        adjustment_reason=reason,
    )


def get_availability_request(
    skus: Iterable[str] = (), locations: Iterable[str] = ()
) -> pb.GetAvailabilityRequest:
    return pb.GetAvailabilityRequest(skus=list(skus), locations=list(locations))


def get_reservation_request(reservation_id: str) -> pb.GetReservationRequest:
    return pb.GetReservationRequest(reservation_id=reservation_id)


def ensure_batch_keys(operations: Iterable[pb.Operation]) -> pb.BatchRequest:
    """A batch of copies of the operations, each without a key given a fresh one."""
    batch = pb.BatchRequest()
    for operation in operations:
        item = batch.operations.add()
        item.CopyFrom(operation)
        kind = item.WhichOneof("operation")
        if kind is None:
            continue  # the server names the empty operation in its INVALID_ARGUMENT
        request = getattr(item, kind)
        if not request.idempotency_key:
            request.idempotency_key = mint_key()
    return batch


# The audit trail and the event feed.


def list_events_request(
    *,
    reservation_id: str = "",
    sku: str = "",
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    page_size: int = 0,
    page_token: str = "",
) -> pb.ListEventsRequest:
    return pb.ListEventsRequest(
        reservation_id=reservation_id,
        sku=sku,
        since=_optional_timestamp(since),
        until=_optional_timestamp(until),
        page_size=page_size,
        page_token=page_token,
    )


def watch_events_request(from_sequence: int = 1) -> pb.WatchEventsRequest:
    return pb.WatchEventsRequest(from_sequence=from_sequence)
