"""A live holdfast for the SRE kit's tests: a real server process with its
/metrics endpoint, an events sink and traffic that makes every family holdfast
exports show a series (decisions of each kind, an expired hold, an operator
forcing a breaker open and resetting it, an on-demand audit)."""

from __future__ import annotations

import time
import urllib.request
import uuid
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, operations_pb2, operations_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families
from serverproc import SERVICE, ServerProcess, free_port, serve_command

OPERATOR = [("x-holdfast-actor", "sre-on-call")]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class LiveHoldfast(ServerProcess):
    """``python -m holdfast serve`` on a temp database, /metrics on ``metrics_port``."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.directory = directory
        self.metrics_port = free_port()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> LiveHoldfast:
        self.launch(
            serve_command(
                "--listen", self.target,
                "--database", str(self.directory / "holdfast.db"),
                "--sweep-interval", "0.05",
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
                "--events-sink", str(self.directory / "events.jsonl"),
                # Audited on demand (RunAudit) below, not by a timer.
                "--audit-interval-seconds", "0",
            )
        )  # fmt: skip
        self.wait_serving()
        return self


def refused(call: grpc.UnaryUnaryMultiCallable, request: object) -> grpc.StatusCode:
    try:
        call(request, timeout=10)
    except grpc.RpcError as e:
        return e.code()
    raise AssertionError(f"{request} was not refused")


def drive_traffic(target: str) -> None:
    """One of each kind of thing holdfast counts."""
    sku, location = unique("sku"), "DC1"
    with grpc.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        operations = operations_pb2_grpc.OperationsServiceStub(channel)
        as_of = timestamp_pb2.Timestamp(seconds=int(time.time()) - 5)
        count = pb.SetStockRequest(
            idempotency_key=unique("count"), sku=sku, location=location,
            on_hand=10, source_sequence=2, as_of=as_of,
        )  # fmt: skip
        stub.SetStock(count, timeout=10)
        stale = pb.SetStockRequest(
            idempotency_key=unique("count"), sku=sku, location=location,
            on_hand=5, source_sequence=1, as_of=as_of,
        )  # fmt: skip
        assert refused(stub.SetStock, stale) == grpc.StatusCode.FAILED_PRECONDITION
        line = pb.LineRequest(sku=sku, location=location, quantity=2)
        first = pb.ReserveRequest(idempotency_key=unique("hold"), lines=[line])
        held = stub.Reserve(first, timeout=10).reservation.reservation_id
        assert stub.Reserve(first, timeout=10).decision.replayed
        reused = pb.ReserveRequest(
            idempotency_key=first.idempotency_key,
            lines=[pb.LineRequest(sku=sku, location=location, quantity=1)],
        )
        assert refused(stub.Reserve, reused) == grpc.StatusCode.FAILED_PRECONDITION
        too_many = pb.LineRequest(sku=sku, location=location, quantity=100)
        short = pb.ReserveRequest(idempotency_key=unique("hold"), lines=[too_many])
        assert refused(stub.Reserve, short) == grpc.StatusCode.FAILED_PRECONDITION
        allocate = pb.AllocateRequest(idempotency_key=unique("alloc"), reservation_id=held)
        stub.Allocate(allocate, timeout=10)
        other = pb.ReserveRequest(idempotency_key=unique("hold"), lines=[line])
        released = stub.Reserve(other, timeout=10).reservation.reservation_id
        release = pb.ReleaseRequest(idempotency_key=unique("rel"), reservation_id=released)
        stub.Release(release, timeout=10)
        # Open for the hold-age gauge, and one that expires at once.
        stub.Reserve(pb.ReserveRequest(idempotency_key=unique("hold"), lines=[line]), timeout=10)
        brief = pb.ReserveRequest(idempotency_key=unique("hold"), lines=[line], hold_seconds=1)
        stub.Reserve(brief, timeout=10)
        # An operator forces a breaker open and resets it: transitions, actions.
        for action in (
            operations_pb2.SetCircuitBreakerRequest.FORCE_OPEN,
            operations_pb2.SetCircuitBreakerRequest.RESET,
        ):
            operations.SetCircuitBreaker(
                operations_pb2.SetCircuitBreakerRequest(
                    name="feasibility", action=action, reason="ops test drill"
                ),
                metadata=OPERATOR,
                timeout=10,
            )
        operations.RunAudit(operations_pb2.RunAuditRequest(), metadata=OPERATOR, timeout=10)


def scrape_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return response.read().decode()  # type: ignore[no-any-return]


def sample_names(text: str) -> set[str]:
    """Every series name in a scrape (counters with _total, histograms' _bucket ...)."""
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def wait_for_series(url: str, names: set[str], timeout: float = 30.0) -> str:
    """Scrape until every name in ``names`` has a series (counters move as calls
    answer; the expiry needs its second to pass); the last scrape."""
    deadline = time.monotonic() + timeout
    while True:
        text = scrape_text(url)
        if names <= sample_names(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)
