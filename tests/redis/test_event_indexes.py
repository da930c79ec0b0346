"""ListEvents on Redis reads a tenant's, a reservation's or a SKU's events
through its event index (``{P}:x:t:TENANT``, ``{P}:x:r:ID``,
``{P}:x:s:SKU``), not by reading the whole stream: the commit lists each
event in the same step, a trim shortens the lists with the stream, and
events committed before the indexes started (a stream written by an earlier
version) are still found by reading it.

The oracle is the stream itself: with ``{P}:x:from`` deleted the replica
reads every listing from the stream, as it did before the indexes.
"""

from __future__ import annotations

import uuid

from holdfast.client import Client
from holdfast.v1 import inventory_pb2 as pb
from redis_support import Keys, StartReplicas, until
from redisproc import RedisServer

HOLD_S = 3_600


def every_page(client: Client, page_size: int = 0, **selected: str) -> list[pb.Event]:
    events: list[pb.Event] = []
    token = ""
    while True:
        page = client.list_events(page_size=page_size, page_token=token, **selected)
        events.extend(page.events)
        token = page.next_page_token
        if not token:
            return events


def of_reservation(events: list[pb.Event], reservation_id: str) -> list[int]:
    return [e.sequence for e in events if e.reservation_id == reservation_id]


def of_sku(events: list[pb.Event], sku: str) -> list[int]:
    return [e.sequence for e in events if sku in e.skus]


def test_each_commit_lists_its_event_in_its_reservations_and_skus_indexes(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    (replica,) = replicas(1)
    tee, cup, mug = (f"{name}-{uuid.uuid4().hex[:8]}" for name in ("TEE", "CUP", "MUG"))
    neighbour = f"{tenant}-next-door"
    with (
        Keys(redis_server, redis_prefix) as indexes,
        replica.client(tenant) as client,
        replica.client(neighbour) as next_door,
    ):
        client.set_stock(tee, "W1", 100, source_sequence=1)
        client.set_stock(cup, "W1", 100, source_sequence=1)
        next_door.set_stock(mug, "W1", 100, source_sequence=1)
        both = client.reserve([(tee, "W1", 2), (cup, "W1", 1)], hold_seconds=HOLD_S)
        watched = both.reservation.reservation_id
        others = []
        for _ in range(30):  # interleaved with another tenant's events
            held = client.reserve([(cup, "W1", 1)], hold_seconds=HOLD_S)
            others.append(held.reservation.reservation_id)
            next_door.reserve([(mug, "W1", 1)], hold_seconds=HOLD_S)
        client.allocate(watched)
        client.release(others[0])
        client.confirm_pick(watched, [(tee, "W1", 2), (cup, "W1", 1)])

        everything = every_page(client)
        assert indexes.indexes_start() == 1  # a fresh prefix: every event is listed
        indexes.set_indexes_start(None)
        assert every_page(client) == everything  # the same, read from the stream
        indexes.set_indexes_start(1)
        assert len(everything) == 36  # 2 counts, both, 30 others, 3 later
        assert indexes.listed(f"x:t:{tenant}") == [e.sequence for e in everything]
        assert len(indexes.listed(f"x:t:{neighbour}")) == 31
        assert indexes.listed(f"x:r:{watched}") == of_reservation(everything, watched)
        assert indexes.listed(f"x:s:{tee}") == of_sku(everything, tee)
        assert indexes.listed(f"x:s:{cup}") == of_sku(everything, cup)
        assert len(of_sku(everything, cup)) == 35  # its count, both, 30 others, 3 later

        for page_size in (0, 1, 7):
            assert every_page(client, page_size) == everything
            history = every_page(client, page_size, reservation_id=watched)
            assert [e.sequence for e in history] == of_reservation(everything, watched)
            assert [e.kind for e in history] == [
                e.kind for e in everything if e.reservation_id == watched
            ]
            touching = every_page(client, page_size, sku=cup)
            assert [e.sequence for e in touching] == of_sku(everything, cup)
        # Both filters at once: the reservation's index, narrowed by SKU.
        assert [
            e.sequence for e in every_page(client, reservation_id=others[0], sku=cup)
        ] == of_reservation(everything, others[0])
        assert every_page(client, reservation_id=others[0], sku=tee) == []


def test_events_committed_before_the_indexes_started_are_found_in_the_stream(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    (replica,) = replicas(1)
    sku = f"OLD-{uuid.uuid4().hex[:8]}"
    with Keys(redis_server, redis_prefix) as indexes:
        with replica.client(tenant) as client:
            client.set_stock(sku, "W1", 50, source_sequence=1)
            held = client.reserve([(sku, "W1", 3)], hold_seconds=HOLD_S)
            watched = held.reservation.reservation_id
            client.reserve([(sku, "W1", 1)], hold_seconds=HOLD_S)
        assert replica.stop() == 0
        # As if an earlier version had written them: no index lists them.
        indexes.forget_indexes()
        written_before = indexes.head()
        replica.start()
        replica.wait_serving()
        assert indexes.indexes_start() == written_before + 1
        with replica.client(tenant) as client:
            client.allocate(watched)
            client.reserve([(sku, "W1", 2)], hold_seconds=HOLD_S)
            assert indexes.listed(f"x:r:{watched}") == [written_before + 1]

            everything = every_page(client)
            assert len(of_reservation(everything, watched)) == 2
            for page_size in (0, 1):
                history = every_page(client, page_size, reservation_id=watched)
                assert [e.sequence for e in history] == of_reservation(everything, watched)
                touching = every_page(client, page_size, sku=sku)
                assert [e.sequence for e in touching] == of_sku(everything, sku)
                assert len(touching) == 5


def test_a_trim_drops_the_trimmed_events_from_the_indexes(
    replicas: StartReplicas, redis_server: RedisServer, redis_prefix: str, tenant: str
) -> None:
    upkeep = ("--snapshot-interval-seconds", "0.2", "--audit-retention-days", "0")
    (replica,) = replicas(1, extra=upkeep)
    sku = f"TRIM-{uuid.uuid4().hex[:8]}"
    with Keys(redis_server, redis_prefix) as indexes, replica.client(tenant) as client:
        client.set_stock(sku, "W1", 50, source_sequence=1)
        ended = client.reserve([(sku, "W1", 3)], hold_seconds=HOLD_S)
        gone = ended.reservation.reservation_id
        client.release(gone)
        assert len(indexes.listed(f"x:r:{gone}")) == 2

        # Zero retention: the stream is trimmed to the snapshot's head.
        until(
            "the stream trimmed to the head",
            lambda: True if indexes.stream_length() == 0 and indexes.head() >= 3 else None,
        )
        assert indexes.listed(f"x:r:{gone}") == []
        assert not indexes.client.exists(indexes.key(f"x:r:{gone}"))
        assert not indexes.client.exists(indexes.key(f"x:s:{sku}"))
        assert not indexes.client.exists(indexes.key(f"x:t:{tenant}"))

        assert every_page(client, reservation_id=gone) == []
        assert every_page(client, sku=sku) == []
