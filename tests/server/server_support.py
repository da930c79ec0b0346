"""Helpers for the server tests: a real `python -m holdfast serve` process and
decoders for the rich error details a client reads."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

REPO = Path(__file__).resolve().parents[2]
SERVICE = "holdfast.v1.InventoryService"
DOMAIN = "holdfast.v1"
START_TIMEOUT_S = 60.0  # a cold interpreter on a busy 2-core machine
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unique(prefix: str) -> str:
    """A name no other test uses, so tests sharing a server do not interfere."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def ts(seconds: int, nanos: int = 0) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


class ServerProcess:
    """`python -m holdfast serve ...` as a subprocess, its stderr in a file."""

    def __init__(self, args: list[str], log_path: Path, env: dict[str, str] | None = None):
        # State in a file beside the log, never in the working directory.
        if "--database" not in args and "--in-memory" not in args:
            args = [*args, "--database", str(log_path.with_suffix(".db"))]
        self.args = args
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    @classmethod
    def on_free_port(cls, log_path: Path, *extra: str) -> ServerProcess:
        port = free_port()
        server = cls(["--listen", f"127.0.0.1:{port}", *extra], log_path)
        server.port = port
        return server

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "holdfast", "serve", *self.args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                cwd=REPO,
                env=self.env,
            )
        return self

    def run_to_exit(self, timeout: float = START_TIMEOUT_S) -> int:
        """For a server expected to refuse to start."""
        self.start()
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def wait_serving(self, timeout: float = START_TIMEOUT_S) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                code = self.process.poll()
                if code is not None:
                    raise AssertionError(f"server exited with {code} at start:\n{self.log_text()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"server not SERVING after {timeout}s:\n{self.log_text()}")
                time.sleep(0.05)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def terminate(self) -> int:
        """SIGTERM, then the exit code (killing it if it does not stop in time)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.wait()
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        records = []
        for line in self.log_text().splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


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
