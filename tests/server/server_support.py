"""Helpers for the server tests: a real `python -m holdfast serve` process and
decoders for the rich error details a client reads."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status
from serverproc import SERVICE, START_TIMEOUT_S, free_port, serve_command
from serverproc import ServerProcess as _ServerProcess

__all__ = ["SERVICE", "free_port"]  # re-exported for the tests here
DOMAIN = "holdfast.v1"


def unique(prefix: str) -> str:
    """A name no other test uses, so tests sharing a server do not interfere."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ts(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


class ServerProcess(_ServerProcess):
    """`python -m holdfast serve ARGS` as a subprocess, only its stderr in the log.

    ARGS name the listen address; health is asked about the inventory service.
    """

    def __init__(self, args: list[str], log_path: Path, port: int = 0) -> None:
        super().__init__(log_path, port, health_service=SERVICE, stdout_to_log=False)
        # State in a file beside the log, never in the working directory.
        if "--database" not in args and "--in-memory" not in args:
            args = [*args, "--database", str(log_path.with_suffix(".db"))]
        self.args = args

    @classmethod
    def on_free_port(cls, log_path: Path, *extra: str) -> ServerProcess:
        port = free_port()
        return cls(["--listen", f"127.0.0.1:{port}", *extra], log_path, port)

    def start(self) -> ServerProcess:
        self.launch(serve_command(*self.args))
        return self

    def run_to_exit(self, timeout: float = START_TIMEOUT_S) -> int:
        """For a server expected to refuse to start."""
        return self.start().wait(timeout)


def wait_for_log(
    server: ServerProcess, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The log records matching ``predicate``, waiting for at least one: a
    refused call's line can be written just after its status was sent."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in server.log_records() if predicate(r)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


def rich_status(error: grpc.RpcError) -> status_pb2.Status:
    """The google.rpc.Status a refused call carries, as any gRPC client reads it."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no rich status on {error}"
    return status


def detail(status: status_pb2.Status, kind: type[Any]) -> Any:
    """The one detail of that type (None when absent)."""
    found = [d for d in status.details if d.Is(kind.DESCRIPTOR)]
    assert len(found) <= 1, f"more than one {kind.__name__}"
    if not found:
        return None
    message = kind()
    found[0].Unpack(message)
    return message


def error_info(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    info = detail(status, error_details_pb2.ErrorInfo)
    assert info is not None, f"no ErrorInfo in {status}"
    return info


def bad_request_fields(status: status_pb2.Status) -> list[str]:
    bad = detail(status, error_details_pb2.BadRequest)
    assert bad is not None, f"no BadRequest in {status}"
    return [v.field for v in bad.field_violations]
