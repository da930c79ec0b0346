"""Fixtures for the dependency tests: the fake feasibility check (a real
process) and a factory of holdfast servers of each test's own (breaker state
is per process, and each test configures its own policy)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dependencies_harness import Server
from fake_feasibility import FakeFeasibility


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeFeasibility]:
    process = FakeFeasibility(tmp_path / "fake.log").start()
    yield process
    process.kill()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``start_server(*flags)``: a durable server on this test's database."""
    started: list[Server] = []

    def start(*flags: str) -> Server:
        server = Server(tmp_path / "holdfast.db", tmp_path / "server.log", *flags)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        if server.process is not None and server.process.poll() is None:
            code = server.stop()
            assert code == 0, server.log_since_start()
