"""Rule sets are the server's own, not a tenant's: a test that activates one
changes every later decision. So read-and-deploy tests share one durable
server (each deploys versions of its own name), and a test that switches what
decides gets a fresh server of its own (``fresh``)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from backends import BACKENDS, BackendServer
from holdfast.client import OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from rules_support import RulesServer, operator


@pytest.fixture(scope="session")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RulesServer]:
    process = RulesServer(tmp_path_factory.mktemp("rules-server")).start()
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{process.log_text()}"


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[RulesServer]:
    process = RulesServer(tmp_path).start()
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{process.log_text()}"


@pytest.fixture
def ops(shared: RulesServer) -> Iterator[OperationsClient]:
    with operator(shared) as made:
        yield made


_sequence = itertools.count(1)


@pytest.fixture
def stock() -> Callable[[OperationsClient, str, str, int], pb.StockResponse]:
    def count(client: OperationsClient, sku: str, location: str, on_hand: int) -> pb.StockResponse:
        return client.set_stock(sku, location, on_hand, source_sequence=next(_sequence))

    return count


@pytest.fixture(params=BACKENDS)
def on_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BackendServer]:
    """A fresh server of the test's own on SQLite, then on Redis (the session's
    redis-server, a prefix of the test's own)."""
    backend = str(request.param)
    url = request.getfixturevalue("redis_server").url if backend == "redis" else ""
    process = BackendServer(backend, tmp_path, url).start()
    try:
        yield process
    finally:
        code = process.stop()
    assert code == 0, f"{backend} server did not drain cleanly ({code}):\n{process.log_text()}"
