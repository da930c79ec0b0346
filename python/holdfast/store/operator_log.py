"""The operator audit log: who forced a breaker, overrode a reservation or
stock, or injected a fault, when, on what, why, and how it was answered.

Durable mode keeps it in the ``operator_actions`` table of the journal's
database file; it is written off the event loop on a connection of its own
(an operator action is rare, so one short connection per write or read
costs nothing and holds no lock between them). In memory mode the newest
actions are kept in a bounded deque, lost on exit like everything else.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from dataclasses import astuple, dataclass
from typing import Protocol

from holdfast.store import sqlite

# In memory mode, the newest actions kept (ListOperatorActions shows at most 1,000).
MEMORY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class OperatorAction:
    at: int  # unix ms
    actor: str
    # breaker.force_open, breaker.disable, breaker.reset, override.release,
    # override.adjust, fault.bucket_drift
    action: str
    # A breaker name, a reservation id, sku@location.
    target: str
    reason: str
    request_id: str
    # The reason code the action was answered with ("OK" when it has none).
    outcome: str


class OperatorLog(Protocol):
    async def record(self, action: OperatorAction) -> None: ...

    async def newest(self, limit: int) -> list[OperatorAction]:
        """At most ``limit`` actions, newest first."""
        ...


class MemoryOperatorLog:
    def __init__(self, limit: int = MEMORY_LIMIT) -> None:
        self._actions: deque[OperatorAction] = deque(maxlen=limit)

    async def record(self, action: OperatorAction) -> None:
        self._actions.append(action)

    async def newest(self, limit: int) -> list[OperatorAction]:
        return list(reversed(self._actions))[:limit]


_COLUMNS = "at, actor, action, target, reason, request_id, outcome"


class SqliteOperatorLog:
    def __init__(self, path: str, synchronous: str, lock_timeout_s: float) -> None:
        self._path = path
        self._synchronous = synchronous
        # How long a write waits for the group commit's lock before failing.
        self._lock_timeout_s = lock_timeout_s

    async def record(self, action: OperatorAction) -> None:
        await asyncio.to_thread(self._insert, action)

    async def newest(self, limit: int) -> list[OperatorAction]:
        return await asyncio.to_thread(self._select, limit)

    def _connect(self) -> sqlite3.Connection:
        return sqlite.connect(self._path, self._synchronous, self._lock_timeout_s)

    def _insert(self, action: OperatorAction) -> None:
        conn = self._connect()
        try:
            conn.execute(
                f"INSERT INTO operator_actions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                astuple(action),
            )
        finally:
            conn.close()

    def _select(self, limit: int) -> list[OperatorAction]:
        conn = self._connect()
        try:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM operator_actions ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        finally:
            conn.close()
        return [OperatorAction(*row) for row in rows]
