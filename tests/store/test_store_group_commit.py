"""Group commit over a real file: many concurrent calls share one transaction,
each is answered only once its events are in the file, and a full commit queue
refuses new commitments before the engine decides them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from store_support import (
    Server,
    error_info,
    millis,
    reserve,
    retry_delay_s,
    set_stock,
    unique,
)

CALLS = 200


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    server = Server(tmp_path).start()
    yield server
    server.kill()


async def test_concurrent_calls_share_transactions_and_are_answered_after_commit(
    server: Server,
) -> None:
    sku = unique("sku")
    reader = server.read()
    async with grpc.aio.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        await stub.SetStock(set_stock(sku, CALLS))

        async def one() -> pb.ReserveResponse:
            answer: pb.ReserveResponse = await stub.Reserve(reserve(sku), timeout=60)
            # Answered only after commit: another process already sees the
            # events, with the commit time the answer gives.
            row = reader.execute(
                "SELECT committed_at FROM events WHERE reservation_id = ?",
                (answer.reservation.reservation_id,),
            ).fetchone()
            assert row is not None, "answered before its events were durable"
            assert row[0] == millis(answer.decision.committed_at)
            return answer

        # The test holds the write lock for a moment, so the calls pile up
        # behind the writer's first transaction as they would behind a slow
        # disk; without it a slow client sends too few at once to show it.
        lock = server.read()
        lock.execute("BEGIN IMMEDIATE")
        calls = asyncio.gather(*(one() for _ in range(CALLS)))
        await asyncio.sleep(1.0)
        lock.execute("ROLLBACK")
        answers = await calls
    for answer in answers:
        assert millis(answer.decision.committed_at) >= millis(answer.decision.decided_at)
    # Many answers share one commit time: one transaction each time.
    assert len({millis(a.decision.committed_at) for a in answers}) < CALLS / 4
    assert server.stop() == 0
    closed = server.record("journal closed")
    # The stock count, the reserves and the shutdown snapshot: far fewer
    # transactions than calls.
    assert closed["events"] >= CALLS + 1
    assert closed["transactions"] < CALLS / 4, closed


def test_a_full_commit_queue_refuses_with_overloaded_and_retry_info(tmp_path: Path) -> None:
    # A tiny queue, and a writer made slow for real: the test holds the
    # database's write lock, so the writer's transaction waits for it.
    server = Server(
        tmp_path, "--commit-queue-limit", "2", "--journal-timeout-seconds", "60"
    ).start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10))
            lock = server.read()
            lock.execute("BEGIN IMMEDIATE")
            # Calls go in until one is refused: those before it wait for the
            # writer, stuck on the lock, and fill the queue.
            waiting: list[grpc.Future] = []
            refused: grpc.RpcError | None = None
            while refused is None and len(waiting) <= 2:
                key = unique("reserve")
                call = stub.Reserve.future(reserve(sku, key=key), timeout=120)
                try:
                    call.result(timeout=2)
                except grpc.FutureTimeoutError:
                    waiting.append(call)
                except grpc.RpcError as e:
                    refused = e
            assert len(waiting) == 2
            assert refused is not None
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            info = error_info(refused)
            assert info.reason == "OVERLOADED"
            assert info.metadata["limit"] == "2"
            assert retry_delay_s(refused) > 0
            lock.execute("ROLLBACK")
            for call in waiting:
                assert call.result().reservation.reservation_id
            # Refused before the engine decided: its key is still free.
            fresh = stub.Reserve(reserve(sku, key=key), timeout=30)
            assert not fresh.decision.replayed
            assert fresh.reservation.reservation_id
    finally:
        server.kill()
