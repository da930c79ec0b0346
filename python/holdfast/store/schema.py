"""The journal's tables, exactly as the design says (PRAGMA user_version = 3).

``events`` is the journal: one row per core event, committed in the same
transaction as the state change it records (the journal IS the state), so it
doubles as the audit trail and as the feed's transactional outbox.
``operator_actions`` is the operator audit log (holdfast.store.operator_log):
who forced a breaker, overrode a reservation or injected a fault, and why.
``rule_sets`` and ``rule_activations`` are the rule store
(holdfast.store.rule_store): every deployed rule-set version, never changed
once written, and each activation with who asked and why.
"""

from __future__ import annotations

import sqlite3

VERSION = 3

# Version 2 added the operator audit log.
OPERATOR_ACTIONS_DDL = """
CREATE TABLE operator_actions (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, reason TEXT NOT NULL, request_id TEXT NOT NULL,
    outcome TEXT NOT NULL)
"""

# Version 3 added the rule store. IF NOT EXISTS: a database whose version was
# set back by hand (as a test of an older database does) may still hold them.
RULE_SETS_DDL = """
CREATE TABLE IF NOT EXISTS rule_sets (version TEXT PRIMARY KEY, checksum TEXT NOT NULL,
    author TEXT NOT NULL, description TEXT NOT NULL, comment TEXT NOT NULL,
    deployed_at INTEGER NOT NULL, deployed_by TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rule_activations (id INTEGER PRIMARY KEY, version TEXT NOT NULL,
    activated_at INTEGER NOT NULL, actor TEXT NOT NULL, reason TEXT NOT NULL)
"""

DDL = (
    """
CREATE TABLE events (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, committed_at INTEGER NOT NULL,
    kind TEXT NOT NULL, tenant TEXT NOT NULL, reservation_id TEXT, body BLOB NOT NULL);
CREATE INDEX events_by_reservation ON events(reservation_id, seq)
    WHERE reservation_id IS NOT NULL;
CREATE INDEX events_by_time ON events(at, seq);
CREATE TABLE event_skus (sku TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (sku, seq))
    WITHOUT ROWID;
CREATE TABLE snapshots (seq INTEGER PRIMARY KEY, taken_at INTEGER NOT NULL, body BLOB NOT NULL);
"""
    + OPERATOR_ACTIONS_DDL
    + ";"
    + RULE_SETS_DDL
)

# The statements taking a database from the key's version to the next one.
MIGRATIONS = {1: OPERATOR_ACTIONS_DDL, 2: RULE_SETS_DDL}


class SchemaError(RuntimeError):
    """A database this version of holdfast cannot use."""


def ensure(conn: sqlite3.Connection) -> None:
    """Create the tables in a new database, migrate an older one; refuse a newer one."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == VERSION:
        return
    if version in MIGRATIONS:
        _migrate(conn, version)
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


def _migrate(conn: sqlite3.Connection, version: int) -> None:
    """Each step from ``version`` up to ours, in one transaction: a crash leaves
    the old version whole, and the next start migrates again."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while this one waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        while version < VERSION:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            version += 1
        conn.execute(f"PRAGMA user_version = {VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
