"""Helpers for the durable-store tests: a real server on a real SQLite file,
requests built the short way, and the file read from the test's own process."""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from serverproc import SERVICE, ServerProcess, serve_command


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Server(ServerProcess):
    """``python -m holdfast serve --database <file>``; restartable on the same file and port.

    Each start logs to a file of its own (``server-N.log``) in ``directory``.
    """

    def __init__(self, directory: Path, *extra: str) -> None:
        self.starts = 0
        super().__init__(self._log_for(directory, 0), health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.directory = directory
        self.extra = extra

    @staticmethod
    def _log_for(directory: Path, starts: int) -> Path:
        return directory / f"server-{starts}.log"

    def start(self) -> Server:
        self.starts += 1
        self.log_path = self._log_for(self.directory, self.starts)
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--sweep-interval", "0.05", *self.extra,
            )
        )  # fmt: skip
        self.wait_serving()
        return self

    def record(self, message_start: str) -> dict[str, Any]:
        for record in self.log_records():
            if record["msg"].startswith(message_start):
                return record
        raise AssertionError(f"no log record {message_start!r}:\n{self.log_text()}")

    def stub(self, channel: grpc.Channel) -> inventory_pb2_grpc.InventoryServiceStub:
        return inventory_pb2_grpc.InventoryServiceStub(channel)

    def read(self) -> sqlite3.Connection:
        """A connection of the test's own to the server's file."""
        return sqlite3.connect(self.database, timeout=30, isolation_level=None)


def set_stock(sku: str, on_hand: int, sequence: int = 1) -> pb.SetStockRequest:
    return pb.SetStockRequest(
        idempotency_key=unique("count"),
        sku=sku,
        location="L1",
        on_hand=on_hand,
        source_sequence=sequence,
        as_of=timestamp_pb2.Timestamp(seconds=int(time.time())),
    )


def reserve(
    sku: str, quantity: int = 1, key: str | None = None, hold: int = 0
) -> pb.ReserveRequest:
    key = key or unique("reserve")
    return pb.ReserveRequest(
        idempotency_key=key,
        order_ref=f"order-{key}",  # the same request for the same key, so it replays
        channel="web",
        lines=[pb.LineRequest(sku=sku, location="L1", quantity=quantity)],
        hold_seconds=hold,
    )


def millis(stamp: timestamp_pb2.Timestamp) -> int:
    return stamp.seconds * 1000 + stamp.nanos // 1_000_000


def rich_status(error: grpc.RpcError) -> status_pb2.Status:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, f"no rich status on {error}"
    return status


def details(status: status_pb2.Status, kind: type[Any]) -> list[Any]:
    found = []
    for packed in status.details:
        if packed.Is(kind.DESCRIPTOR):
            message = kind()
            packed.Unpack(message)
            found.append(message)
    return found


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    (info,) = details(rich_status(error), error_details_pb2.ErrorInfo)
    return info


def retry_delay_s(error: grpc.RpcError) -> float:
    (retry,) = details(rich_status(error), error_details_pb2.RetryInfo)
    return float(retry.retry_delay.ToNanoseconds() / 1e9)


def without_as_of(answer: pb.GetAvailabilityResponse) -> pb.GetAvailabilityResponse:
    copy = pb.GetAvailabilityResponse()
    copy.CopyFrom(answer)
    copy.ClearField("as_of")
    return copy


def wait_until(condition: Any, timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


os.environ.setdefault("PYTHONUNBUFFERED", "1")
