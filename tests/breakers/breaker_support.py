"""Helpers for the journal breaker tests: a real durable server with a small
journal breaker and a /metrics endpoint, the journal's write lock held from
the test's own SQLite connection (the fault), and the server read back over
gRPC health, /readyz and its log."""

from __future__ import annotations

import sqlite3
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from serverproc import SERVICE, ServerProcess, free_port, serve_command

T = TypeVar("T")

WAIT_S = 30.0  # generous for a shared 2-core machine
LOCATION = "L1"
# Small enough to trip in a few calls. The wait in OPEN leaves the test
# time to look at the OPEN breaker (a refusal, health, /readyz) on a busy
# machine before it turns HALF_OPEN by itself.
BREAKER = (
    "journal.minimum_number_of_calls=4,journal.sliding_window_size=4,"
    "journal.slow_call_duration_ms=100,journal.wait_in_open_ms=1500,"
    "journal.permitted_calls_in_half_open=2"
)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class BreakerServer(ServerProcess):
    """``holdfast serve`` on ``directory/holdfast.db`` with the small journal
    breaker and /metrics on a free port; restartable on the same file."""

    def __init__(self, directory: Path, *extra: str) -> None:
        super().__init__(directory / "server-0.log", health_service=SERVICE)
        self.directory = directory
        self.database = directory / "holdfast.db"
        self.metrics_port = free_port()
        self.extra = extra
        self.starts = 0

    def start(self) -> BreakerServer:
        self.starts += 1
        self.log_path = self.directory / f"server-{self.starts}.log"
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
                "--breakers", BREAKER, *self.extra,
            )
        )  # fmt: skip
        self.wait_serving()
        return self

    def http(self, path: str) -> tuple[int, str]:
        """(status, body) of ``GET path`` on the metrics endpoint."""
        url = f"http://127.0.0.1:{self.metrics_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metric(self, name: str) -> float:
        """One unlabelled sample of the current scrape."""
        _, text = self.http("/metrics")
        for line in text.splitlines():
            if line.startswith(f"{name} "):
                return float(line.split()[1])
        raise AssertionError(f"no sample {name} in the scrape")

    def transitions(self) -> list[tuple[str, str, str]]:
        """The journal breaker's (from, to, cause) so far, from the log."""
        return [
            (r["from_state"], r["to_state"], r["cause"])
            for r in self.log_records()
            if r.get("logger") == "holdfast.breakers" and r.get("breaker") == "journal"
        ]

    def stub(self, channel: grpc.Channel) -> inventory_pb2_grpc.InventoryServiceStub:
        return inventory_pb2_grpc.InventoryServiceStub(channel)


def health(channel: grpc.Channel, service: str = SERVICE) -> int:
    answer = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=10
    )
    return int(answer.status)


class WriteLock:
    """The journal's write lock, held by a connection of the test's own: the
    server's commits wait for it, up to its --journal-timeout-seconds."""

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(database, timeout=30, isolation_level=None)

    def __enter__(self) -> WriteLock:
        self._conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


def set_stock(sku: str, on_hand: int) -> pb.SetStockRequest:
    return pb.SetStockRequest(
        idempotency_key=unique("count"), sku=sku, location=LOCATION, on_hand=on_hand,
        source_sequence=1, as_of=timestamp_pb2.Timestamp(seconds=int(time.time())),
    )  # fmt: skip


def reserve(sku: str, key: str, quantity: int = 1) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=key,
        order_ref=f"order-{key}",  # the same request for the same key: it replays
        channel="web",
        lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=quantity)],
        hold_seconds=3600,
    )


def _detail(error: grpc.RpcError, kind: type[T]) -> T:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error}"
    found = []
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):  # type: ignore[attr-defined]
            message = kind()
            packed.Unpack(message)  # type: ignore[arg-type]
            found.append(message)
    assert len(found) == 1, f"{len(found)} {kind.__name__} in {status}"
    return found[0]


def journal_refusal(error: grpc.RpcError) -> dict[str, str]:
    """The facts of a DEPENDENCY_UNAVAILABLE refusal naming the journal breaker
    (asserted, with a retry delay)."""
    assert error.code() == grpc.StatusCode.UNAVAILABLE, error
    info = _detail(error, error_details_pb2.ErrorInfo)
    assert info.reason == "DEPENDENCY_UNAVAILABLE", info
    facts = dict(info.metadata)
    assert facts["dependency"] == "journal", facts
    assert facts["breaker"] == "journal", facts
    assert facts["state"], facts
    retry = _detail(error, error_details_pb2.RetryInfo)
    assert retry.retry_delay.ToNanoseconds() > 0, retry
    return facts


def wait_until(what: str, check: Callable[[], T | None], timeout: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def reserved_units(stub: inventory_pb2_grpc.InventoryServiceStub, sku: str) -> int:
    answer = stub.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]), timeout=10)
    return int(answer.positions[0].reserved)


def all_there(stub: inventory_pb2_grpc.InventoryServiceStub, acknowledged: dict[str, Any]) -> None:
    """Every acknowledged reservation is known, as answered."""
    for rid in acknowledged:
        view = stub.GetReservation(pb.GetReservationRequest(reservation_id=rid), timeout=10)
        assert view.reservation_id == rid
        assert view.state == pb.LINE_STATE_RESERVED, view
