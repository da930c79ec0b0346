"""WatchEvents: every committed event in order, resumable from any sequence,
nothing lost or skipped across a crash of the server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from feed_harness import Consumer, DurableServer, sequences
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from holdfast.client import AsyncClient, Client, InvalidArgument
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc


def churn(client: Client, sku: str, count: int) -> list[str]:
    """``count`` acknowledged changes (counts then adjustments); their keys."""
    keys = []
    for n in range(count):
        key = f"{sku}-{n}"
        if n == 0:
            client.set_stock(sku, "L1", 100, source_sequence=1, idempotency_key=key)
        else:
            client.adjust_stock(sku, "L1", 1, reason="receipt", idempotency_key=key)
        keys.append(key)
    return keys


def test_events_arrive_in_order_as_they_commit(fresh_server: DurableServer) -> None:
    consumer = Consumer(fresh_server.target, 1)
    try:
        with fresh_server.client("shop") as client:
            keys = churn(client, "SKU-W", 3)
            # Already there before the next change is made: sent as it commits.
            assert [e.idempotency_key for e in consumer.wait_for(3)] == keys
            held = client.reserve([("SKU-W", "", 2)], idempotency_key="hold")
            events = consumer.wait_for(4)
    finally:
        consumer.close()
    assert sequences(events) == [1, 2, 3, 4]
    assert events[3].kind == "hold_placed"
    assert events[3].reservation_id == held.reservation.reservation_id
    assert events[3].tenant == "shop"


def test_resumes_from_a_sequence_without_gap_or_duplicate(fresh_server: DurableServer) -> None:
    with fresh_server.client("shop") as client:
        churn(client, "SKU-X", 6)
        first = Consumer(fresh_server.target, 1)
        try:
            seen = first.wait_for(4)
        finally:
            first.close()
        # The consumer processed 1..4; it resumes from 5, and more keeps coming.
        resumed = Consumer(fresh_server.target, seen[-1].sequence + 1)
        try:
            client.adjust_stock("SKU-X", "L1", -1, reason="damaged")
            rest = resumed.wait_for(3)
        finally:
            resumed.close()
    assert sequences(seen + rest) == list(range(1, 8))
    # from_sequence 0 is the start.
    with fresh_server.client("shop") as client:
        assert sequences(next_events(client, 0, 2)) == [1, 2]


def next_events(client: Client, from_sequence: int, count: int) -> list[pb.Event]:
    events = []
    for event in client.watch_events(from_sequence, timeout=20.0):
        events.append(event)
        if len(events) == count:
            break
    return events


def test_resumes_after_the_server_is_killed(fresh_server: DurableServer) -> None:
    acknowledged: list[str] = []
    consumer = Consumer(fresh_server.target, 1)
    with fresh_server.client("shop") as client:
        acknowledged += churn(client, "SKU-K", 5)
    received = consumer.wait_for(5)
    fresh_server.kill()  # mid-stream: the consumer is still watching
    consumer.wait_ended()
    consumer.close()
    assert consumer.error is not None  # the feed broke; the consumer resumes

    fresh_server.start()
    resumed = Consumer(fresh_server.target, received[-1].sequence + 1)
    try:
        with fresh_server.client("shop") as client:
            for n in range(5, 9):
                key = f"after-{n}"
                client.adjust_stock("SKU-K", "L1", 1, reason="receipt", idempotency_key=key)
                acknowledged.append(key)
        received += resumed.wait_for(4)
    finally:
        resumed.close()
    assert sequences(received) == list(range(1, 10))
    assert [e.idempotency_key for e in received] == acknowledged


def test_a_stream_cancelled_by_the_client_leaves_the_server_serving(
    fresh_server: DurableServer,
) -> None:
    with fresh_server.client("shop") as client:
        churn(client, "SKU-C", 2)
        assert sequences(next_events(client, 1, 1)) == [1]  # stopped after one
        client.adjust_stock("SKU-C", "L1", 1, reason="receipt")
        assert sequences(next_events(client, 2, 2)) == [2, 3]


async def test_the_async_client_watches_too(fresh_server: DurableServer) -> None:
    async with AsyncClient(fresh_server.target, tenant="shop") as client:
        await client.set_stock("SKU-A", "L1", 3, source_sequence=1)
        received: list[pb.Event] = []

        async def watch() -> None:
            async for event in client.watch_events(1):
                received.append(event)
                if len(received) == 2:
                    return

        watching = asyncio.create_task(watch())
        await client.reserve([("SKU-A", "", 1)])
        await asyncio.wait_for(watching, 30)
    assert [e.kind for e in received] == ["stock_counted", "hold_placed"]


def test_a_future_sequence_waits_for_it(fresh_server: DurableServer) -> None:
    consumer = Consumer(fresh_server.target, 3)
    try:
        with fresh_server.client("shop") as client:
            churn(client, "SKU-F", 4)
        assert sequences(consumer.wait_for(2)) == [3, 4]
    finally:
        consumer.close()


def test_in_memory_mode_has_no_journal_to_read(tmp_path: Path) -> None:
    server = DurableServer(None, tmp_path / "server.log").start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = inventory_pb2_grpc.InventoryServiceStub(channel)
            for call in (
                lambda: stub.ListEvents(pb.ListEventsRequest(), timeout=20),
                lambda: list(stub.WatchEvents(pb.WatchEventsRequest(), timeout=20)),
            ):
                with pytest.raises(grpc.RpcError) as refused:
                    call()
                assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
                status = rpc_status.from_call(refused.value)
                assert status is not None
                info = error_details_pb2.ErrorInfo()
                assert status.details[0].Unpack(info)
                assert info.reason == "DEPENDENCY_UNAVAILABLE"
                assert info.metadata["dependency"] == "journal"
                assert info.metadata["detail"] == "running in memory: no journal"
                # No retry can help: no RetryInfo, and a pushback saying so.
                assert not any(d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details)
                trailers = dict(refused.value.trailing_metadata() or ())
                assert trailers["grpc-retry-pushback-ms"] == "-1"
    finally:
        assert server.stop() == 0


def test_a_sequence_no_longer_retained_is_refused(tmp_path: Path) -> None:
    # Every event is compacted at the first snapshot: no audit retention at all.
    server = DurableServer(
        tmp_path / "holdfast.db",
        tmp_path / "server.log",
        "--audit-retention-days",
        "0",
        "--snapshot-interval-seconds",
        "0.2",
    ).start()
    try:
        with server.client("shop") as client:
            churn(client, "SKU-O", 3)
            deadline = time.monotonic() + 30
            while client.list_events().events:
                assert time.monotonic() < deadline, "the journal was never compacted"
                time.sleep(0.1)
            with pytest.raises(InvalidArgument) as refused:
                next_events(client, 1, 1)
            assert [v.field for v in refused.value.field_violations] == ["from_sequence"]
            assert "4" in refused.value.message  # where the retained journal starts
            # From the first sequence still to come, the feed goes on.
            consumer = Consumer(server.target, 4)
            try:
                client.adjust_stock("SKU-O", "L1", 1, reason="receipt")
                assert sequences(consumer.wait_for(1)) == [4]
            finally:
                consumer.close()
    finally:
        assert server.stop() == 0


def test_a_drain_ends_the_feed_cleanly(tmp_path: Path) -> None:
    server = DurableServer(
        tmp_path / "holdfast.db", tmp_path / "server.log", "--grace-seconds", "10"
    ).start()
    with server.client("shop") as client:
        churn(client, "SKU-D", 2)
    consumer = Consumer(server.target, 1)
    try:
        consumer.wait_for(2)
        started = time.monotonic()
        assert server.stop() == 0
        consumer.wait_ended()
        assert consumer.error is None  # ended with OK, not cancelled by the shutdown
        # Not held up for the grace period by a consumer that never hangs up.
        assert time.monotonic() - started < 5
    finally:
        consumer.close()
