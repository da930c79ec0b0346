"""A fresh holdfast server of one test's own on SQLite or on Redis, for the
change-control behaviours whose code paths differ by backend (the rule store's
history, the journal's commit, the switch's awaits).

``activations()`` reads the rule store's activation history straight from
where the server keeps it (the ``rule_activations`` table, the
``{P}:rule_activations`` list): what a rollback reads.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from holdfast.client import OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from serverproc import SERVICE, ServerProcess, serve_command

BACKENDS = ["sqlite", "redis"]


class BackendServer(ServerProcess):
    """``holdfast serve`` on a SQLite file in ``directory`` or under a fresh Redis prefix."""

    def __init__(self, backend: str, directory: Path, redis_url: str = "") -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.backend = backend
        self.database = directory / "holdfast.db"
        self.redis_url = redis_url
        self.prefix = f"rules-{uuid.uuid4().hex[:12]}"

    def flags(self) -> list[str]:
        if self.backend == "sqlite":
            return ["--database", str(self.database)]
        assert self.backend == "redis", self.backend
        return ["--redis-url", self.redis_url, "--redis-prefix", self.prefix]

    def start(self) -> BackendServer:
        self.launch(
            serve_command("--listen", self.target, "--sweep-interval", "0.05", *self.flags())
        )
        self.wait_serving()
        return self

    def activations(self) -> list[tuple[str, str, str]]:
        """(version, actor, reason) of every stored activation, oldest first."""
        if self.backend == "sqlite":
            conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT version, actor, reason FROM rule_activations ORDER BY id"
                ).fetchall()
            finally:
                conn.close()
            return [(str(v), str(a), str(r)) for v, a, r in rows]
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            listed: Any = client.lrange("{" + self.prefix + "}:rule_activations", 0, -1)
        finally:
            client.close()
        records = [json.loads(value) for value in listed]
        return [(r["version"], r["actor"], r["reason"]) for r in records]


def switches(ops: OperationsClient) -> list[str]:
    """The versions the journal's rule_version_set events switched to, in
    sequence order (read from the feed up to a marker decision made now)."""
    key = str(uuid.uuid4())
    ops.set_stock(f"MARK-{key[:8]}", "W1", 1, source_sequence=1, idempotency_key=key)
    versions = []
    event: pb.Event
    for event in ops.watch_events(1, timeout=60):
        if event.kind == "rule_version_set":
            versions.append(json.loads(event.body_json)["change"]["RuleVersionSet"]["version"])
        if event.idempotency_key == key:
            return versions
    raise AssertionError("the feed ended before the marker")
