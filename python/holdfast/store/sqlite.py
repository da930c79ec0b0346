"""Synchronous SQLite access: the writer thread's connection, start-up, readers.

Nothing here runs on the event loop's thread once the server is serving: the
writer thread owns the one write connection, and every other caller opens its
own connection (an sqlite3 connection must stay in its thread).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from holdfast import Engine
from holdfast.store import schema

# Events are read back and replayed this many at a time, so a long journal
# never sits in memory whole.
REPLAY_CHUNK = 20_000

_INSERT_EVENT = (
    "INSERT INTO events (seq, at, committed_at, kind, tenant, reservation_id, body)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_SKU = "INSERT OR IGNORE INTO event_skus (sku, seq) VALUES (?, ?)"


def connect(path: str, synchronous: str = "FULL", timeout_s: float = 5.0) -> sqlite3.Connection:
    """A read-write connection in WAL mode, the schema ensured.

    ``timeout_s`` is how long a write waits for a lock another connection
    holds before it fails (and the journal is declared failed).
    """
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot put {path} in WAL mode (got {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        schema.ensure(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def reader(path: str) -> sqlite3.Connection:
    """A connection for queries only (the feed, the audit trail); one per thread."""
    conn = sqlite3.connect(path, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA query_only = 1")
    return conn


@dataclass(slots=True)
class DurableImage:
    """What is durable, held in memory: the latest snapshot and the events
    committed after it. The engine can be rebuilt from it without reading the
    file, which a full disk or a broken WAL index may not allow."""

    snapshot: tuple[int, bytes] | None
    events: list[tuple[int, bytes]]

    def rebuild(self, engine_options: Mapping[str, Any]) -> Rebuilt:
        if self.snapshot is None:
            snapshot_seq, engine = 0, Engine(**engine_options)
        else:
            snapshot_seq = self.snapshot[0]
            engine = Engine.restore(self.snapshot[1], **engine_options)
        engine.replay([body for _, body in self.events])
        engine.check_invariants()
        return Rebuilt(engine, snapshot_seq, len(self.events), self)

    def committed(
        self, events: list[tuple[int, bytes]], snapshot: tuple[int, bytes] | None
    ) -> None:
        """A group committed: its events, then (if any) the snapshot written after them."""
        self.events.extend(events)
        if snapshot is not None:
            self.snapshot = snapshot
            self.events = [(seq, body) for seq, body in self.events if seq > snapshot[0]]


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """An engine holding exactly what is durable, and how it was made."""

    engine: Engine
    snapshot_seq: int
    replayed: int
    image: DurableImage

    @property
    def committed_seq(self) -> int:
        return self.engine.next_seq - 1


def latest_snapshot(conn: sqlite3.Connection) -> tuple[int, bytes] | None:
    row = conn.execute("SELECT seq, body FROM snapshots ORDER BY seq DESC LIMIT 1").fetchone()
    return None if row is None else (int(row[0]), bytes(row[1]))


def events_after(conn: sqlite3.Connection, seq: int) -> Iterator[list[bytes]]:
    cursor = conn.execute("SELECT body FROM events WHERE seq > ? ORDER BY seq", (seq,))
    while rows := cursor.fetchmany(REPLAY_CHUNK):
        yield [bytes(row[0]) for row in rows]


def max_seq(conn: sqlite3.Connection) -> int:
    """The highest durable seq (a snapshot covers its seq even once its events are compacted)."""
    row = conn.execute(
        "SELECT max(coalesce((SELECT max(seq) FROM events), 0),"
        " coalesce((SELECT max(seq) FROM snapshots), 0))"
    ).fetchone()
    return int(row[0])


def rebuild(conn: sqlite3.Connection, engine_options: Mapping[str, Any]) -> Rebuilt:
    """The latest snapshot restored and every later event replayed, invariants checked."""
    snapshot = latest_snapshot(conn)
    if snapshot is None:
        snapshot_seq, engine = 0, Engine(**engine_options)
    else:
        snapshot_seq, engine = snapshot[0], Engine.restore(snapshot[1], **engine_options)
    replayed: list[tuple[int, bytes]] = []
    for chunk in events_after(conn, snapshot_seq):
        engine.replay(chunk)
        first = snapshot_seq + len(replayed) + 1
        replayed.extend(zip(range(first, first + len(chunk)), chunk, strict=True))
    engine.check_invariants()
    return Rebuilt(engine, snapshot_seq, len(replayed), DurableImage(snapshot, replayed))


def append(
    conn: sqlite3.Connection,
    events: list[tuple[int, bytes]],
    committed_at: int,
    snapshot: tuple[int, int, bytes] | None = None,
) -> None:
    """One transaction: the events (indexed by reservation and SKU), then the snapshot."""
    rows = []
    sku_rows = []
    summary = Engine.event_summary
    for seq, body in events:
        s = summary(body)
        rows.append((seq, s["at"], committed_at, s["kind"], s["tenant"], s["reservation_id"], body))
        sku_rows.extend([(sku, seq) for sku in s["skus"]])
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(_INSERT_EVENT, rows)
        conn.executemany(_INSERT_SKU, sku_rows)
        if snapshot is not None:
            conn.execute("INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?)", snapshot)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def compact(conn: sqlite3.Connection, retained_from: int, keep_from_seq: int | None = None) -> int:
    """Delete events both covered by the latest snapshot and decided before
    ``retained_from`` (unix ms), but none from ``keep_from_seq`` on (events
    the outbox has not delivered), and every snapshot but the latest.
    Returns how many events went."""
    latest = latest_snapshot(conn)
    if latest is None:
        return 0
    snapshot_seq = latest[0]
    seq = snapshot_seq if keep_from_seq is None else min(snapshot_seq, keep_from_seq - 1)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            "DELETE FROM event_skus WHERE seq IN"
            " (SELECT seq FROM events WHERE seq <= ? AND at < ?)",
            (seq, retained_from),
        )
        deleted = conn.execute(
            "DELETE FROM events WHERE seq <= ? AND at < ?", (seq, retained_from)
        ).rowcount
        conn.execute("DELETE FROM snapshots WHERE seq < ?", (snapshot_seq,))
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return int(deleted)


def probe(conn: sqlite3.Connection) -> None:
    """A tiny real write: rewriting the schema version dirties page 1, so the
    commit has to reach the file (a lock or a read-only file makes it fail)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(f"PRAGMA user_version = {schema.VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
