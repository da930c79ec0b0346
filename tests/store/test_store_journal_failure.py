"""The journal cannot be written (another connection holds the database's
write lock past the timeout): commitments are refused, never acknowledged from
memory alone; reads go on from what is durable; commitments resume by
themselves once the journal can be written again, and nothing acknowledged is
lost. (Tests run as root here, so a read-only chmod would not stop a write:
the held lock is the failure that works for every user.)"""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from store_support import (
    Server,
    error_info,
    reserve,
    retry_delay_s,
    set_stock,
    unique,
    wait_until,
)


def test_journal_failure_refuses_commitments_serves_reads_and_recovers(tmp_path: Path) -> None:
    server = Server(tmp_path, "--journal-timeout-seconds", "0.5", "--journal-probe-seconds", "0.2")
    server.start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10))
            acknowledged = [stub.Reserve(reserve(sku)).reservation.reservation_id for _ in range(3)]
            lock = server.read()
            lock.execute("BEGIN IMMEDIATE")

            # The call whose commit fails is refused; its change is not kept.
            lost_key = unique("lost")
            with pytest.raises(grpc.RpcError) as failed:
                stub.Reserve(reserve(sku, key=lost_key), timeout=30)
            _assert_journal_unavailable(failed.value)

            # While failing: commitments refused at once, reads served from
            # the durable state (the three acknowledged holds, not the lost one).
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as refused:
                stub.Reserve(reserve(sku), timeout=30)
            _assert_journal_unavailable(refused.value)
            assert time.monotonic() - started < 0.4  # not another lock timeout

            def reserved() -> int:
                answer = stub.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]), timeout=30)
                return int(answer.positions[0].reserved)

            assert wait_until(lambda: _or_none(reserved) == 3, what="reads from the rebuild")
            for rid in acknowledged:
                view = stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))
                assert view.reservation_id == rid

            lock.execute("ROLLBACK")
            lock.close()

            # Recovery by itself: the probe finds the journal writable again.
            def resumed() -> pb.ReserveResponse | None:
                try:
                    answer: pb.ReserveResponse = stub.Reserve(
                        reserve(sku, key=lost_key), timeout=30
                    )
                except grpc.RpcError as e:
                    _assert_journal_unavailable(e)
                    return None
                return answer

            again = wait_until(resumed, what="commitments to resume")
            # The refused call was never durable: its key decides anew.
            assert not again.decision.replayed
            assert reserved() == 4
        conn = server.read()
        for rid in [*acknowledged, again.reservation.reservation_id]:
            row = conn.execute("SELECT 1 FROM events WHERE reservation_id = ?", (rid,)).fetchone()
            assert row is not None, f"acknowledged {rid} lost"
        assert server.record("journal write failed")["lost_calls"] >= 1
        assert server.record("journal recovered")
    finally:
        server.kill()


def _or_none(read: object) -> int | None:
    try:
        return read()  # type: ignore[operator, no-any-return]
    except grpc.RpcError as e:
        _assert_journal_unavailable(e)  # rebuilding: refused, not wrong
        return None


def _assert_journal_unavailable(error: grpc.RpcError) -> None:
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    info = error_info(error)
    assert info.reason == "DEPENDENCY_UNAVAILABLE"
    assert info.metadata["dependency"] == "journal"
    assert retry_delay_s(error) > 0
