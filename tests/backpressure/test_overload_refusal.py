"""OVERLOADED at the two bounds, over a real durable server: max_in_flight
(refused by the interceptor before any servicer runs) and the commit queue
(refused by the ledger before the engine decides).

No timing: a call is kept in flight by holding the journal's write lock from
the test (its commit waits for the lock), the server's own in-flight gauge
says when it is running, and the refusals are read for what they carry:
RESOURCE_EXHAUSTED, ErrorInfo OVERLOADED naming the bound, a RetryInfo delay
and the same delay in the ``grpc-retry-pushback-ms`` trailer; the refusal
counter by bound; health checks never refused.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from bp_support import (
    PUSHBACK_KEY,
    WAIT_S,
    Holdfast,
    WriteLock,
    error_info,
    reserve,
    retry_delay_ms,
    set_stock,
    trailers,
    unique,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import operations_pb2, operations_pb2_grpc
from polling import until

SERVICE = "holdfast.v1.InventoryService"


def _refused(call: grpc.Future) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call.result()
    return refused.value


def _assert_overloaded(error: grpc.RpcError, resource: str, limit: int) -> int:
    """What every OVERLOADED refusal carries; its delay in ms."""
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    info = error_info(error)
    assert info.reason == "OVERLOADED"
    assert info.metadata["resource"] == resource
    assert info.metadata["limit"] == str(limit)
    delay_ms = retry_delay_ms(error)
    assert delay_ms is not None
    assert delay_ms > 0
    # gRPC's own retry hint says the same as RetryInfo.
    assert trailers(error)[PUSHBACK_KEY] == str(delay_ms)
    return delay_ms


def _in_flight(server: Holdfast, running: int) -> bool | None:
    return True if server.metric("holdfast_rpc_in_flight") == running else None


def test_calls_past_max_in_flight_are_refused_before_the_servicer_runs(tmp_path: Path) -> None:
    server = Holdfast(
        tmp_path, "--max-in-flight", "1", "--journal-timeout-seconds", "60", metrics=True
    ).start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10), timeout=WAIT_S)
            with WriteLock(server.database):
                # The one slot: a Reserve whose commit waits for the lock.
                holding = stub.Reserve.future(reserve(sku), timeout=WAIT_S)
                until(lambda: _in_flight(server, 1), what="the Reserve to be in flight")

                key = unique("refused")
                refused = _refused(stub.Reserve.future(reserve(sku, key), timeout=WAIT_S))
                assert _assert_overloaded(refused, "in_flight", 1) == 100
                read = stub.GetAvailability.future(
                    pb.GetAvailabilityRequest(skus=[sku]), timeout=WAIT_S
                )
                _assert_overloaded(_refused(read), "in_flight", 1)

                # A balancer's health check is never refused by the bound.
                health = health_pb2_grpc.HealthStub(channel)
                answer = health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
                # Nor is an operator: forcing a breaker is how load is shed by hand.
                operations = operations_pb2_grpc.OperationsServiceStub(channel)
                listed = operations.ListCircuitBreakers(
                    operations_pb2.ListCircuitBreakersRequest(), timeout=10
                )
                assert {b.name for b in listed.breakers} >= {"journal", "events"}
            assert holding.result().reservation.reservation_id

            # Refused before anything was decided: the key decides anew now.
            again = stub.Reserve(reserve(sku, key), timeout=WAIT_S)
            assert not again.decision.replayed
            position = stub.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]), timeout=WAIT_S)
            assert position.positions[0].reserved == 2
        assert server.metric("holdfast_overload_refusals_total", resource="in_flight") == 2
        assert server.metric("holdfast_overload_refusals_total", resource="commit_queue") == 0
    finally:
        assert server.stop() == 0, server.log_text()


def test_a_full_commit_queue_refuses_with_the_same_hints(tmp_path: Path) -> None:
    server = Holdfast(
        tmp_path, "--commit-queue-limit", "1", "--journal-timeout-seconds", "60", metrics=True
    ).start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10), timeout=WAIT_S)
            with WriteLock(server.database):
                waiting = stub.Reserve.future(reserve(sku), timeout=WAIT_S)
                until(lambda: _in_flight(server, 1), what="the Reserve to await its commit")
                key = unique("refused")
                refused = _refused(stub.Reserve.future(reserve(sku, key), timeout=WAIT_S))
                _assert_overloaded(refused, "commit_queue", 1)
            waiting.result()
            again = stub.Reserve(reserve(sku, key), timeout=WAIT_S)
            assert not again.decision.replayed
        assert server.metric("holdfast_overload_refusals_total", resource="commit_queue") == 1
        assert server.metric("holdfast_overload_refusals_total", resource="in_flight") == 0
    finally:
        assert server.stop() == 0, server.log_text()
