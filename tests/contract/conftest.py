"""One behavioural contract, every backend: the same tests against a real
server on the in-memory, SQLite and Redis backends.

``backend`` is parametrized by backend name and session-scoped, so pytest
starts one server per backend and runs every contract test against it before
the next; tests keep apart by a fresh tenant and fresh SKUs each, never by
restarting a server. The Redis server is the session's ``redis_server``, and
this suite's keys live under a prefix of its own.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_support import Backend, Stock
from holdfast.client import Client
from holdfast.v1 import inventory_pb2 as pb
from serverproc import ServerProcess, serve_command

BACKENDS = ["memory", "sqlite", "redis"]
SWEEP_INTERVAL = "0.05"  # holds are at least 1 s; the sweeper looks 20 times a second


def backend_flags(request: pytest.FixtureRequest, name: str, directory: Path) -> list[str]:
    """The serve flags choosing ``name``'s storage."""
    if name == "memory":
        return ["--in-memory"]
    if name == "sqlite":
        return ["--database", str(directory / "holdfast.db")]
    assert name == "redis", name
    redis_server = request.getfixturevalue("redis_server")  # only the redis run needs one
    prefix = f"contract-{uuid.uuid4().hex[:12]}"
    return ["--redis-url", redis_server.url, "--redis-prefix", prefix]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    name = str(request.param)
    directory = tmp_path_factory.mktemp(f"contract-{name}")
    flags = backend_flags(request, name, directory)
    server = ServerProcess(directory / "server.log")
    server.launch(
        serve_command("--listen", server.target, "--sweep-interval", SWEEP_INTERVAL, *flags)
    )
    try:
        server.wait_serving()
        yield Backend(name, server, flags)
    finally:
        code = server.stop()
    assert code == 0, f"{name} server did not drain cleanly ({code}):\n{server.log_text()[-4000:]}"


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(backend: Backend, tenant: str) -> Iterator[Client]:
    with Client(backend.target, tenant=tenant, actor="contract", timeout=30.0) as made:
        yield made


_sequence = itertools.count(1)


@pytest.fixture
def stock(client: Client) -> Stock:
    """``stock(sku, location, on_hand)``: a warehouse count with a fresh sequence."""

    def count(sku: str, location: str, on_hand: int) -> pb.StockResponse:
        return client.set_stock(sku, location, on_hand, source_sequence=next(_sequence))

    return count
