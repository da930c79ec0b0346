"""ListEvents: the audit trail read from the journal, by reservation, by SKU,
by time, a page at a time, only the caller's tenant's."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
import pytest
from feed_harness import DurableServer, sequences
from holdfast.client import Client, InvalidArgument, NotFound
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2


def sku() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


def all_events(client: Client, **query: object) -> list[pb.Event]:
    events: list[pb.Event] = []
    token = ""
    while True:
        page = client.list_events(page_token=token, **query)  # type: ignore[arg-type]
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


def test_a_reservations_events_oldest_first_with_who_why_and_key(
    client: Client, tenant: str, stock: Callable[..., None]
) -> None:
    item = sku()
    stock(client, item, 10)
    held = client.reserve([(item, "", 3)], order_ref="o-1", idempotency_key="k-reserve")
    reservation_id = held.reservation.reservation_id
    client.allocate(reservation_id, idempotency_key="k-allocate")
    client.release(reservation_id, note="customer cancelled", idempotency_key="k-release")

    answer = client.list_events(reservation_id=reservation_id)

    assert answer.next_page_token == ""
    events = list(answer.events)
    assert [e.kind for e in events] == ["hold_placed", "lines_moved", "lines_moved"]
    assert [e.idempotency_key for e in events] == ["k-reserve", "k-allocate", "k-release"]
    assert [pb_reason(e) for e in events] == ["RESERVED", "ALLOCATED", "RELEASED"]
    seqs = sequences(events)
    assert seqs == sorted(set(seqs))
    for event in events:
        assert event.tenant == tenant
        assert event.actor == "tester"
        assert event.reservation_id == reservation_id
        assert list(event.skus) == [item]
        assert event.rule_version
        assert event.committed_at.ToMilliseconds() >= event.at.ToMilliseconds()
        body = json.loads(event.body_json)
        assert body["seq"] == event.sequence
        assert body["tenant"] == tenant
    assert "customer cancelled" in events[2].body_json


def pb_reason(event: pb.Event) -> str:
    return reasons_pb2.ReasonCode.Name(event.reason)


def test_events_touching_a_sku(client: Client, stock: Callable[..., None]) -> None:
    mine, other = sku(), sku()
    stock(client, mine, 10)
    stock(client, other, 10)
    first = client.reserve([(mine, "", 1)]).reservation.reservation_id
    client.reserve([(other, "", 1)])
    both = client.reserve([(mine, "", 1), (other, "", 1)]).reservation.reservation_id
    client.adjust_stock(mine, "L1", 5, reason="receipt")

    events = all_events(client, sku=mine)

    assert [e.kind for e in events] == [
        "stock_counted",
        "hold_placed",
        "hold_placed",
        "stock_adjusted",
    ]
    assert [e.reservation_id for e in events[1:3]] == [first, both]
    assert all(mine in e.skus for e in events)
    # Both filters at once: that reservation's events touching that SKU.
    narrowed = all_events(client, sku=other, reservation_id=both)
    assert [e.reservation_id for e in narrowed] == [both]


def test_events_in_a_time_range(client: Client, stock: Callable[..., None]) -> None:
    item = sku()
    stock(client, item, 100)
    time.sleep(0.05)
    middle = datetime.now(UTC)
    time.sleep(0.05)
    for _ in range(3):
        client.reserve([(item, "", 1)])
    time.sleep(0.05)
    end = datetime.now(UTC)
    time.sleep(0.05)
    client.adjust_stock(item, "L1", -1, reason="damaged")

    everything = all_events(client, sku=item)
    assert len(everything) == 5
    since = all_events(client, sku=item, since=middle)
    assert [e.kind for e in since] == ["hold_placed"] * 3 + ["stock_adjusted"]
    window = all_events(client, sku=item, since=middle, until=end)
    assert [e.kind for e in window] == ["hold_placed"] * 3
    until = all_events(client, since=datetime(2000, 1, 1, tzinfo=UTC), until=middle)
    assert [e.kind for e in until] == ["stock_counted"]


def test_paging_has_no_gap_and_no_duplicate(client: Client, stock: Callable[..., None]) -> None:
    item = sku()
    stock(client, item, 1000)
    for n in range(24):
        client.adjust_stock(item, "L1", 1, reason=f"receipt {n}")
    whole = client.list_events(sku=item, page_size=1000)
    assert len(whole.events) == 25
    assert whole.next_page_token == ""

    pages: list[list[int]] = []
    token = ""
    while True:
        page = client.list_events(sku=item, page_size=7, page_token=token)
        pages.append(sequences(list(page.events)))
        token = page.next_page_token
        if not token:
            break

    assert [len(p) for p in pages] == [7, 7, 7, 4]
    assert [s for p in pages for s in p] == sequences(list(whole.events))
    # The default page is 100 events.
    assert len(client.list_events().events) == 25


def test_another_tenants_reservation_is_not_found(
    server: DurableServer, client: Client, stock: Callable[..., None]
) -> None:
    item = sku()
    stock(client, item, 5)
    reservation_id = client.reserve([(item, "", 1)]).reservation.reservation_id
    with server.client("someone-else") as stranger:
        with pytest.raises(NotFound) as refused:
            stranger.list_events(reservation_id=reservation_id)
        assert refused.value.reason == "RESERVATION_NOT_FOUND"
        assert refused.value.facts["reservation_id"] == reservation_id
        # Nor do that tenant's other queries show it.
        assert stranger.list_events(sku=item).events == []
    with pytest.raises(NotFound):
        client.list_events(reservation_id=str(uuid.uuid4()))


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"page_size": -1}, "page_size"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "YWZ0ZXI6eA"}, "page_token"),  # "after:x"
        ({"reservation_id": "nope"}, "reservation_id"),
    ],
)
def test_malformed_requests_name_the_field(
    client: Client, query: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        client.list_events(**query)  # type: ignore[arg-type]
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in refused.value.field_violations] == [field]
    # The server is still there.
    client.list_events()


def test_history_survives_a_restart(fresh_server: DurableServer) -> None:
    with fresh_server.client("shop") as client:
        client.set_stock("SKU-R", "L1", 5, source_sequence=1)
        reservation_id = client.reserve([("SKU-R", "", 2)]).reservation.reservation_id
        client.allocate(reservation_id)
        before = list(client.list_events(reservation_id=reservation_id).events)
    assert fresh_server.stop() == 0

    fresh_server.start()
    with fresh_server.client("shop") as client:
        after = list(client.list_events(reservation_id=reservation_id).events)
        client.release(reservation_id)
        later = list(client.list_events(reservation_id=reservation_id).events)
    assert after == before
    assert [e.kind for e in later] == ["hold_placed", "lines_moved", "lines_moved"]
    assert later[:2] == before
