"""Reading the journal back: the audit trail (ListEvents) and the feed (WatchEvents).

The events table is written by the store's single writer and only ever read
here, over read-only connections (one per worker thread: an sqlite3
connection must stay on the thread that opened it). Every query runs off the
event loop (``asyncio.to_thread``) and is bounded by a sequence the caller
knows to be committed, so nothing that could still be lost is ever shown.

Results are in journal order (by sequence), which is the order the engine
decided them in; ``at`` is the decision's wall-clock time and is only
filtered on. A page token is the last sequence a page showed, wrapped so
callers treat it as opaque.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "EventFilter",
    "EventJournal",
    "JournalReader",
    "StoredEvent",
    "decode_page_token",
    "encode_page_token",
]

_TOKEN_PREFIX = "after:"


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One committed row of the events table."""

    seq: int
    committed_at: int
    body: bytes


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What ListEvents asks for; every field narrows, None does not.

    ``tenant`` always applies: a caller sees only its own tenant's events.
    ``since`` is inclusive, ``until`` exclusive (unix ms, on ``at``).
    """

    tenant: str
    reservation_id: str | None = None
    sku: str | None = None
    since: int | None = None
    until: int | None = None


def encode_page_token(last_seq: int) -> str:
    return base64.urlsafe_b64encode(f"{_TOKEN_PREFIX}{last_seq}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The last sequence the previous page showed; ValueError if not one of ours."""
    try:
        padded = token + "=" * (-len(token) % 4)
        text = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (UnicodeError, binascii.Error) as e:
        raise ValueError("is not a page token of this service") from e
    digits = text.removeprefix(_TOKEN_PREFIX)
    if digits == text or not digits.isdecimal() or len(digits) > 19:
        raise ValueError("is not a page token of this service")
    return int(digits)


Connect = Callable[[], sqlite3.Connection]


class EventJournal(Protocol):
    """What the audit trail and the feed read, whichever store holds the events."""

    async def page(
        self, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]: ...
    async def events_from(self, from_seq: int, up_to_seq: int, limit: int) -> list[StoredEvent]: ...
    async def oldest_seq(self) -> int | None: ...
    async def has_reservation(self, tenant: str, reservation_id: str) -> bool: ...


class JournalReader:
    """Queries over the events and event_skus tables.

    ``connect`` opens a new read-only connection to the store's database; it
    is called once per worker thread that runs a query.
    """

    def __init__(self, connect: Connect) -> None:
        self._connect = connect
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect()
            self._local.connection = connection
        return connection

    # Off the loop ------------------------------------------------------------

    async def page(
        self, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]:
        """Up to ``limit`` events matching ``selected`` with ``after_seq < seq <= up_to_seq``."""
        return await asyncio.to_thread(self.page_now, selected, after_seq, up_to_seq, limit)

    async def events_from(self, from_seq: int, up_to_seq: int, limit: int) -> list[StoredEvent]:
        """Up to ``limit`` events with ``from_seq <= seq <= up_to_seq``, every tenant's."""
        return await asyncio.to_thread(self.events_from_now, from_seq, up_to_seq, limit)

    async def oldest_seq(self) -> int | None:
        """The first retained sequence (None while the journal holds no event)."""
        return await asyncio.to_thread(self.oldest_seq_now)

    async def has_reservation(self, tenant: str, reservation_id: str) -> bool:
        """Whether the journal holds an event of this tenant about this reservation."""
        return await asyncio.to_thread(self.has_reservation_now, tenant, reservation_id)

    # The queries (blocking) --------------------------------------------------

    def page_now(
        self, selected: EventFilter, after_seq: int, up_to_seq: int, limit: int
    ) -> list[StoredEvent]:
        where = ["e.tenant = ?", "e.seq > ?", "e.seq <= ?"]
        args: list[object] = [selected.tenant, after_seq, up_to_seq]
        if selected.reservation_id is not None:
            where.append("e.reservation_id = ?")
            args.append(selected.reservation_id)
        if selected.sku is not None:
            # event_skus is keyed (sku, seq): one probe per candidate event.
            where.append("EXISTS (SELECT 1 FROM event_skus s WHERE s.sku = ? AND s.seq = e.seq)")
            args.append(selected.sku)
        if selected.since is not None:
            where.append("e.at >= ?")
            args.append(selected.since)
        if selected.until is not None:
            where.append("e.at < ?")
            args.append(selected.until)
        if selected.sku is not None and selected.reservation_id is None:
            # Walk the SKU's index rather than the whole journal.
            source = "event_skus k JOIN events e ON e.seq = k.seq"
            where.insert(0, "k.sku = ?")
            args.insert(0, selected.sku)
            order = "k.seq"
        else:
            source = "events e"
            order = "e.seq"
        sql = (
            f"SELECT e.seq, e.committed_at, e.body FROM {source} "
            f"WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
        )
        args.append(limit)
        rows = self._connection().execute(sql, args).fetchall()
        return [StoredEvent(seq, committed_at, bytes(body)) for seq, committed_at, body in rows]

    def events_from_now(self, from_seq: int, up_to_seq: int, limit: int) -> list[StoredEvent]:
        rows = (
            self._connection()
            .execute(
                "SELECT seq, committed_at, body FROM events WHERE seq >= ? AND seq <= ? "
                "ORDER BY seq LIMIT ?",
                (from_seq, up_to_seq, limit),
            )
            .fetchall()
        )
        return [StoredEvent(seq, committed_at, bytes(body)) for seq, committed_at, body in rows]

    def oldest_seq_now(self) -> int | None:
        row = self._connection().execute("SELECT MIN(seq) FROM events").fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def has_reservation_now(self, tenant: str, reservation_id: str) -> bool:
        row = (
            self._connection()
            .execute(
                "SELECT 1 FROM events WHERE reservation_id = ? AND tenant = ? LIMIT 1",
                (reservation_id, tenant),
            )
            .fetchone()
        )
        return row is not None
