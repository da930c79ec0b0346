"""Journal rows <-> ``holdfast.v1.Event``, and the ListEvents request's fields.

The event's fields come from the core (``Engine.event_summary`` and
``Engine.event_json``), never from re-reading its encoding here.
"""

from __future__ import annotations

from holdfast import Engine, is_reservation_id
from holdfast.convert import ms_from_timestamp, timestamp
from holdfast.errors import Refusal
from holdfast.store.events import EventFilter, StoredEvent, decode_page_token
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1_000


def event(stored: StoredEvent) -> pb.Event:
    summary = Engine.event_summary(stored.body)
    return pb.Event(
        sequence=stored.seq,
        at=timestamp(summary["at"]),
        kind=summary["kind"],
        tenant=summary["tenant"],
        actor=summary["actor"],
        idempotency_key=summary["idempotency_key"] or "",
        reservation_id=summary["reservation_id"] or "",
        skus=summary["skus"],
        reason=reasons_pb2.ReasonCode.Value(summary["reason"]),
        rule_version=summary["rule_version"],
        body_json=Engine.event_json(stored.body),
        committed_at=timestamp(stored.committed_at),
    )


def event_filter(request: pb.ListEventsRequest, tenant: str) -> EventFilter:
    """What to list; malformed fields are refused naming them."""
    reservation_id = request.reservation_id or None
    if reservation_id is not None and not is_reservation_id(reservation_id):
        raise Refusal.invalid("reservation_id", "is not a UUID")
    since = ms_from_timestamp(request.since, "since") if request.HasField("since") else None
    until = ms_from_timestamp(request.until, "until") if request.HasField("until") else None
    return EventFilter(
        tenant=tenant,
        reservation_id=reservation_id,
        sku=request.sku or None,
        since=since,
        until=until,
    )


def page_size(request: pb.ListEventsRequest) -> int:
    size = request.page_size
    if size < 0 or size > MAX_PAGE_SIZE:
        raise Refusal.invalid("page_size", f"must be between 0 and {MAX_PAGE_SIZE}")
    return size or DEFAULT_PAGE_SIZE


def page_after(request: pb.ListEventsRequest) -> int:
    """The last sequence the previous page showed (0 for the first page)."""
    if not request.page_token:
        return 0
    try:
        return decode_page_token(request.page_token)
    except ValueError as e:
        raise Refusal.invalid("page_token", str(e)) from None
