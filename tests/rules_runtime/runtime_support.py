"""The real server the tests of this directory drive, and waiting on it.

``holdfast serve`` in its own process on a SQLite file of the test's own,
with /metrics on a free port; the tests reach it only as clients do: over
loopback gRPC (grpc.aio), InventoryService and OperationsService, and by
scraping /metrics.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
from holdfast.v1 import inventory_pb2_grpc, operations_pb2_grpc
from serverproc import SERVICE, ServerProcess, free_port, serve_command

# Generous for a shared 2-core machine.
WAIT_S = 60.0
# Who switches rule sets in these tests (the server refuses a change with no actor).
OPERATOR = (("x-holdfast-actor", "release-manager"),)


class RuntimeServer(ServerProcess):
    """``holdfast serve`` on ``directory/holdfast.db``, /metrics on a free port."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.metrics_port = free_port()

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> RuntimeServer:
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            )
        )  # fmt: skip
        self.wait_serving()
        return self


@dataclass
class Running:
    server: RuntimeServer
    channel: grpc.aio.Channel
    inventory: inventory_pb2_grpc.InventoryServiceStub
    operations: operations_pb2_grpc.OperationsServiceStub


async def until(probe: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Let the loop run until ``probe()`` holds (or fail), never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        await asyncio.sleep(0.005)
