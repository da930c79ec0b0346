"""The contract of the event feed (WatchEvents) and the audit trail
(ListEvents): served from the journal on SQLite and from the stream on Redis,
refused as DEPENDENCY_UNAVAILABLE by the memory backend, which keeps none.

The servers are shared by the session, so the feed holds other tests' events
too: a test starts watching at the sequence of its own first event (read from
ListEvents), expects every sequence from there to its last event, consecutive,
and checks its own tenant's events among them.
"""

from __future__ import annotations

import time
import uuid

import pytest
from contract_support import Backend, Stock, sku_name
from feed.feed_harness import Consumer, sequences
from holdfast.client import Client, NotFound, Unavailable
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons

YEAR_2020_S = 1_577_836_800
CLOCK_SLACK_S = 3600  # "a real time": near this machine's clock, not a duration bound


def durable_only(backend: Backend) -> None:
    if backend.name == "memory":
        pytest.skip("the memory backend keeps no journal: test_the_memory_backend_has_no_feed")


def first_and_last(client: Client, sku: str) -> tuple[int, int]:
    """The sequences of this tenant's first and last events touching ``sku``."""
    events = all_events(client, sku=sku)
    return events[0].sequence, events[-1].sequence


def all_events(client: Client, *, sku: str = "", reservation_id: str = "") -> list[pb.Event]:
    events: list[pb.Event] = []
    token = ""
    while True:
        page = client.list_events(sku=sku, reservation_id=reservation_id, page_token=token)
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


def assert_real_times(events: list[pb.Event]) -> None:
    now = time.time()
    for event in events:
        committed = event.committed_at.ToMilliseconds() / 1000
        assert YEAR_2020_S < committed < now + CLOCK_SLACK_S, event
        assert abs(committed - now) < CLOCK_SLACK_S, event
        assert event.committed_at.ToMilliseconds() >= event.at.ToMilliseconds(), event


def test_the_memory_backend_has_no_feed(backend: Backend, client: Client) -> None:
    if backend.name != "memory":
        pytest.skip("a durable backend serves the feed")
    with pytest.raises(Unavailable) as refused:
        next(iter(client.watch_events(1, timeout=30)))
    assert refused.value.reason == "DEPENDENCY_UNAVAILABLE"
    assert refused.value.facts["dependency"] == "journal"
    with pytest.raises(Unavailable) as listed:
        client.list_events()
    assert listed.value.reason == "DEPENDENCY_UNAVAILABLE"


def test_watch_delivers_every_event_in_order_with_consecutive_sequences(
    backend: Backend, client: Client, tenant: str, stock: Stock
) -> None:
    durable_only(backend)
    sku = sku_name("FEED")
    stock(sku, "W1", 10)
    start, _ = first_and_last(client, sku)
    consumer = Consumer(backend.target, start)
    try:
        kept = client.reserve([(sku, "W1", 3)], idempotency_key=f"{sku}-reserve")
        client.allocate(kept.reservation.reservation_id, idempotency_key=f"{sku}-allocate")
        dropped = client.reserve([(sku, "W1", 2)], idempotency_key=f"{sku}-second")
        client.release(dropped.reservation.reservation_id, idempotency_key=f"{sku}-release")
        client.adjust_stock(sku, "W1", 4, reason="receipt", idempotency_key=f"{sku}-adjust")
        _, end = first_and_last(client, sku)
        received = consumer.wait_for(end - start + 1)
    finally:
        consumer.close()

    assert sequences(received) == list(range(start, end + 1))
    mine = [e for e in received if e.tenant == tenant]
    assert [(e.kind, e.idempotency_key) for e in mine[1:]] == [
        ("hold_placed", f"{sku}-reserve"),
        ("lines_moved", f"{sku}-allocate"),
        ("hold_placed", f"{sku}-second"),
        ("lines_moved", f"{sku}-release"),
        ("stock_adjusted", f"{sku}-adjust"),
    ]
    assert mine[0].kind == "stock_counted"
    assert [e.reservation_id for e in mine] == [
        "",
        kept.reservation.reservation_id,
        kept.reservation.reservation_id,
        dropped.reservation.reservation_id,
        dropped.reservation.reservation_id,
        "",
    ]
    assert [e.reason for e in mine[1:]] == [
        reasons.RESERVED,
        reasons.ALLOCATED,
        reasons.RESERVED,
        reasons.RELEASED,
        reasons.STOCK_ADJUSTED,
    ]
    for event in mine:
        assert list(event.skus) == [sku]
        assert event.actor == "contract"
        assert event.rule_version
    assert_real_times(mine)
    # The feed and the audit trail say the same.
    listed = all_events(client, sku=sku)
    assert [(e.sequence, e.kind, e.body_json) for e in listed] == [
        (e.sequence, e.kind, e.body_json) for e in mine
    ]


def test_watch_resumes_from_a_later_sequence_without_gap_or_duplicate(
    backend: Backend, client: Client, tenant: str, stock: Stock
) -> None:
    durable_only(backend)
    sku = sku_name("FEED")
    stock(sku, "W1", 100)
    for n in range(5):
        client.adjust_stock(sku, "W1", 1, reason="receipt", idempotency_key=f"{sku}-{n}")
    start, end = first_and_last(client, sku)
    assert end - start >= 5
    first = Consumer(backend.target, start)
    try:
        seen = first.wait_for(3)  # processed three, then the consumer went away
    finally:
        first.close()
    resume_at = seen[-1].sequence + 1
    resumed = Consumer(backend.target, resume_at)
    try:
        # What was committed before it resumed, then what commits while it watches.
        for n in range(5, 8):
            client.adjust_stock(sku, "W1", 1, reason="receipt", idempotency_key=f"{sku}-{n}")
        _, end = first_and_last(client, sku)
        rest = resumed.wait_for(end - resume_at + 1)
    finally:
        resumed.close()

    assert rest[0].sequence == resume_at
    assert sequences(seen + rest) == list(range(start, end + 1))
    mine = [e for e in seen + rest if e.tenant == tenant]
    assert [e.kind for e in mine] == ["stock_counted"] + ["stock_adjusted"] * 8
    assert [e.idempotency_key for e in mine[1:]] == [f"{sku}-{n}" for n in range(8)]
    assert_real_times(mine)


def test_list_events_shows_one_reservations_events(
    backend: Backend, client: Client, tenant: str, stock: Stock
) -> None:
    durable_only(backend)
    sku = sku_name("FEED")
    stock(sku, "W1", 10)
    held = client.reserve([(sku, "W1", 3)], order_ref="o-1", idempotency_key=f"{sku}-reserve")
    reservation_id = held.reservation.reservation_id
    client.reserve([(sku, "W1", 1)])  # another reservation of the same SKU
    client.allocate(reservation_id, idempotency_key=f"{sku}-allocate")
    client.confirm_pick(reservation_id, idempotency_key=f"{sku}-pick")

    events = all_events(client, reservation_id=reservation_id)
    assert [(e.kind, e.idempotency_key, e.reason) for e in events] == [
        ("hold_placed", f"{sku}-reserve", reasons.RESERVED),
        ("lines_moved", f"{sku}-allocate", reasons.ALLOCATED),
        ("lines_moved", f"{sku}-pick", reasons.PICKED),
    ]
    assert sequences(events) == sorted(set(sequences(events)))
    for event in events:
        assert (event.tenant, event.reservation_id) == (tenant, reservation_id)
        assert list(event.skus) == [sku]
    assert_real_times(events)
    # Another tenant's reservation is not found.
    stranger = f"other-{uuid.uuid4().hex[:8]}"
    with (
        Client(backend.target, tenant=stranger, timeout=30) as other,
        pytest.raises(NotFound) as missing,
    ):
        other.list_events(reservation_id=reservation_id)
    assert missing.value.reason == "RESERVATION_NOT_FOUND"
