"""Real servers for the load generator's tests: one in memory and one on a
SQLite file, each started once for the directory and stopped with SIGTERM
(they must exit 0). Every load test run sets up its own fresh SKUs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from serverproc import ServerProcess, serve_command, serving


def _serving(log_path: Path, *flags: str) -> Iterator[ServerProcess]:
    process = ServerProcess(log_path)
    process.launch(serve_command("--listen", process.target, *flags))
    yield from serving(process)


@pytest.fixture(scope="session")
def memory_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from _serving(tmp_path_factory.mktemp("lt-memory") / "server.log", "--in-memory")


@pytest.fixture(scope="session")
def database_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    where = tmp_path_factory.mktemp("lt-database")
    yield from _serving(where / "server.log", "--database", str(where / "holdfast.db"))
