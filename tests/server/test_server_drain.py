"""SIGTERM: health goes NOT_SERVING, in-flight calls finish, the process exits 0."""

from __future__ import annotations

from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2
from server_support import SERVICE, ServerProcess, ts

CALLS = 6
OPERATIONS = 5_000  # each batch keeps the server busy for a while on its own


def test_sigterm_lets_in_flight_calls_finish_and_reports_not_serving(tmp_path: Path) -> None:
    server = ServerProcess.on_free_port(tmp_path / "drain.log", "--sweep-interval", "0.05")
    server.start()
    try:
        server.wait_serving()
        with grpc.insecure_channel(server.target) as channel:
            inventory = inventory_pb2_grpc.InventoryServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            inventory.SetStock(
                pb.SetStockRequest(
                    idempotency_key="count",
                    sku="drain",
                    location="DC1",
                    on_hand=CALLS * OPERATIONS,
                    source_sequence=1,
                    as_of=ts(1_700_000_000),
                ),
                timeout=10,
            )
            watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=60)
            assert next(watch).status == health_pb2.HealthCheckResponse.SERVING

            batches = [
                pb.BatchRequest(
                    operations=[
                        pb.Operation(
                            reserve=pb.ReserveRequest(
                                idempotency_key=f"c{c}-{i}",
                                lines=[pb.LineRequest(sku="drain", quantity=1)],
                            )
                        )
                        for i in range(OPERATIONS)
                    ]
                )
                for c in range(CALLS)
            ]
            calls = [inventory.ExecuteBatch.future(b, timeout=60) for b in batches]
            # One answer back: the others are in the server, queued or running.
            calls[0].result()
            server.signal()

            assert next(watch).status == health_pb2.HealthCheckResponse.NOT_SERVING
            watch.cancel()  # a watch never ends by itself; the drain would wait for it

            for call in calls:
                reply = call.result()
                assert len(reply.results) == OPERATIONS
                assert all(r.reserve.decision.reason == reasons_pb2.RESERVED for r in reply.results)

        assert server.wait() == 0
    finally:
        server.stop()
    messages = [r["msg"] for r in server.log_records()]
    assert "draining" in messages
    assert messages[-1] == "stopped"
    batch_lines = [
        r
        for r in server.log_records()
        if r.get("msg") == "call" and r.get("method", "").endswith("/ExecuteBatch")
    ]
    assert [r["code"] for r in batch_lines] == ["OK"] * CALLS
