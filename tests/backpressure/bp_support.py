"""Helpers for the backpressure tests: a real durable holdfast process, the
built-in fake feasibility check as a slow dependency, the journal's write
lock held from the test (a call that waits), and readers for what a refused
call carries (rich status, RetryInfo, trailers)."""

from __future__ import annotations

import sqlite3
import urllib.request
import uuid
from pathlib import Path

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from serverproc import SERVICE, ServerProcess, free_port, serve_command

WAIT_S = 30.0  # generous for a shared 2-core machine
LOCATION = "L1"
PUSHBACK_KEY = "grpc-retry-pushback-ms"
DEGRADED_KEY = "holdfast-degraded"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Holdfast(ServerProcess):
    """``holdfast serve`` on ``directory/holdfast.db`` (a real SQLite file)."""

    def __init__(self, directory: Path, *extra: str, metrics: bool = False) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.metrics_port = free_port() if metrics else None
        self.extra = extra

    def start(self) -> Holdfast:
        shown = () if self.metrics_port is None else ("--metrics-listen", self.metrics_url_host)
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database), *shown, *self.extra
            )
        )
        self.wait_serving()
        return self

    @property
    def metrics_url_host(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    def metric(self, name: str, **labels: str) -> float:
        """One sample of a live scrape (0 when absent)."""
        with urllib.request.urlopen(f"http://{self.metrics_url_host}/metrics", timeout=10) as r:
            text = r.read().decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
        series = f"{name}{{{wanted}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(series + " "):
                return float(line.split()[-1])
        return 0.0

    def stub(self, channel: grpc.Channel) -> inventory_pb2_grpc.InventoryServiceStub:
        return inventory_pb2_grpc.InventoryServiceStub(channel)


class WriteLock:
    """The journal's write lock, held by the test's own connection: a commit
    waits for it (up to the server's journal timeout), so its call stays in
    flight for as long as the test needs."""

    def __init__(self, database: Path) -> None:
        self._conn = sqlite3.connect(database, isolation_level=None, timeout=WAIT_S)

    def __enter__(self) -> WriteLock:
        self._conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *_: object) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


def ts_now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def set_stock(sku: str, on_hand: int, sequence: int = 1) -> pb.SetStockRequest:
    return pb.SetStockRequest(
        idempotency_key=unique("count"),
        sku=sku,
        location=LOCATION,
        on_hand=on_hand,
        source_sequence=sequence,
        as_of=ts_now(),
    )


def reserve(sku: str, key: str | None = None, quantity: int = 1) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=key or unique("key"),
        lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=quantity)],
    )


def trailers(error: grpc.RpcError) -> dict[str, str]:
    """A failed call's text trailers (the binary status detail left out)."""
    return {
        key: value
        for key, value in (error.trailing_metadata() or ())  # type: ignore[attr-defined]
        if isinstance(value, str)
    }


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error}"
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError(f"no ErrorInfo on {error}")


def retry_delay_ms(error: grpc.RpcError) -> int | None:
    """RetryInfo's delay in ms, or None when the refusal carries none."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            return round(retry.retry_delay.ToMilliseconds())
    return None
