"""Fixtures for the client tests: one real server per session, a fresh tenant per test.

Each test works in its own tenant (and names its own SKUs), so tests share
the server without seeing each other's stock, reservations or keys.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from client_harness import ServerProcess
from holdfast.client import AsyncClient, Client
from holdfast.v1 import inventory_pb2 as pb


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("server") / "server.log")
    process.start()
    try:
        process.wait_serving()
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"server did not drain cleanly on SIGTERM ({code}):\n{process.log_text()}"


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(server: ServerProcess, tenant: str) -> Iterator[Client]:
    with Client(server.target, tenant=tenant, actor="tester") as made:
        yield made


@pytest.fixture
async def aclient(server: ServerProcess, tenant: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(server.target, tenant=tenant, actor="tester") as made:
        yield made


_sequence = itertools.count(1)


@pytest.fixture
def stock(client: Client) -> Callable[..., pb.StockResponse]:
    """``stock(sku, location, on_hand)``: a warehouse count with a fresh sequence."""

    def count(sku: str, location: str, on_hand: int) -> pb.StockResponse:
        return client.set_stock(sku, location, on_hand, source_sequence=next(_sequence))

    return count
