"""The journal's tables, exactly as the design says (PRAGMA user_version = 1).

``events`` is the journal: one row per core event, committed in the same
transaction as the state change it records (the journal IS the state), so it
doubles as the audit trail and as the feed's transactional outbox.
"""

from __future__ import annotations

import sqlite3

VERSION = 1

DDL = """
CREATE TABLE events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, committed_at INTEGER NOT NULL,
    kind TEXT NOT NULL, tenant TEXT NOT NULL, reservation_id TEXT, body BLOB NOT NULL);
CREATE INDEX events_by_reservation ON events(reservation_id, seq)
    WHERE reservation_id IS NOT NULL;
CREATE INDEX events_by_time ON events(at, seq);
CREATE TABLE event_skus (sku TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sku, seq))
    WITHOUT ROWID;
CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, taken_at INTEGER NOT NULL, body BLOB NOT NULL);
"""


class SchemaError(RuntimeError):
    """A database this version of holdfast cannot use."""


def ensure(conn: sqlite3.Connection) -> None:
    """Create the tables in a new database; accept only our version in an old one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == VERSION:
        return
    if version != 0:
        raise SchemaError(f"database schema version {version}, this holdfast knows {VERSION}")
    tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
    if tables:
        raise SchemaError("database has tables but no holdfast schema version")
    conn.execute("BEGIN IMMEDIATE")
    for statement in DDL.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {VERSION}")
    conn.execute("COMMIT")
