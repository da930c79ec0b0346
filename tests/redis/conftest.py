"""Fixtures for the Redis backend's multi-process tests.

``replicas(count)`` starts holdfast replicas on the session's redis-server
under a fresh prefix (so tests share one redis-server without seeing each
other's keys); ``own_redis`` is a redis-server for one test alone, for the
tests that SIGKILL it. Every replica still running at the end is stopped
with SIGTERM and must drain cleanly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_support import Replica, StartReplicas, start_all
from redisproc import MISSING, RedisServer


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail(MISSING, pytrace=False)
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def replicas(
    request: pytest.FixtureRequest, tmp_path: Path, redis_prefix: str
) -> Iterator[StartReplicas]:
    """``replicas(count, redis=None, prefix=None, extra=())``: started replicas
    on one Redis (the session's unless given) with one prefix."""
    started: list[Replica] = []

    def start(
        count: int,
        redis: RedisServer | None = None,
        prefix: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> list[Replica]:
        server = redis if redis is not None else request.getfixturevalue("redis_server")
        made = [
            Replica(
                tmp_path / f"replica-{len(started) + n + 1}.log",
                server.url,
                prefix or redis_prefix,
                node_id=len(started) + n + 1,
                extra=extra,
            )
            for n in range(count)
        ]
        started.extend(made)
        start_all(made)
        return made

    yield start
    unclean = []
    for replica in started:
        if replica.running:
            code = replica.stop()
            if code != 0:
                unclean.append(f"replica {replica.node_id} exited {code}:\n{replica.log_text()}")
    assert not unclean, "\n".join(unclean)[-8000:]
