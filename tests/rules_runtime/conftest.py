"""Each test gets a fresh server process of its own: rule sets are the
server's, not a tenant's, so a test that switches them changes every later
decision. Everything is real: the process, its SQLite journal and rule store,
the loopback sockets, the /metrics endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from holdfast.v1 import inventory_pb2_grpc, operations_pb2_grpc
from runtime_support import Running, RuntimeServer


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    server = RuntimeServer(tmp_path).start()
    try:
        async with grpc.aio.insecure_channel(server.target) as channel:
            yield Running(
                server,
                channel,
                inventory_pb2_grpc.InventoryServiceStub(channel),
                operations_pb2_grpc.OperationsServiceStub(channel),
            )
    finally:
        code = server.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{server.log_text()}"
