"""Fixtures for the audit trail and feed tests.

``server`` is one durable server per session on a temp database, shared by
the tests that each work in their own tenant. Tests that read the whole feed
or restart the server start their own with ``fresh_server``.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from feed_harness import DurableServer
from holdfast.client import Client

_sequence = itertools.count(1)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DurableServer]:
    directory = tmp_path_factory.mktemp("feed-server")
    process = DurableServer(directory / "holdfast.db", directory / "server.log")
    process.start()
    yield process
    code = process.stop()
    assert code == 0, f"server did not drain cleanly ({code}):\n{process.log_text()}"


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[DurableServer]:
    """A server of this test's own, on its own database file (started)."""
    process = DurableServer(tmp_path / "holdfast.db", tmp_path / "server.log")
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.stop()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def client(server: DurableServer, tenant: str) -> Iterator[Client]:
    with server.client(tenant) as made:
        yield made


def count_stock(client: Client, sku: str, on_hand: int, location: str = "L1") -> None:
    client.set_stock(sku, location, on_hand, source_sequence=next(_sequence))


@pytest.fixture
def stock() -> Callable[..., None]:
    return count_stock
