"""Shared by every test directory: pytest puts this directory (tests/) on
sys.path when it loads this file, so each suite's harness can import
``serverproc``, the one helper that starts and stops a real server."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from redisproc import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real ``redis-server`` for the whole session.

    Suites share it and keep apart by ``--redis-prefix`` (see ``redis_prefix``).
    Missing binary: the test fails (not skips) saying to run ``make redis``.
    """
    from redisproc import MISSING, RedisServer  # imports redis-py: only where it is used

    if shutil.which("redis-server") is None:
        pytest.fail(MISSING, pytrace=False)
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_prefix() -> str:
    """A ``--redis-prefix`` no other test uses."""
    return f"hf-{uuid.uuid4().hex[:12]}"
