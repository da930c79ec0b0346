"""Peer 4: SQLite with one commit per request, what a simple service would do.

    python benchmarks/peers/sqlite_server.py --listen 127.0.0.1:PORT --database FILE

Every Reserve is one transaction on one connection (WAL, synchronous=FULL,
as holdfast's default): BEGIN IMMEDIATE, look up the idempotency key, read
each position's availability, insert the reservation and the idempotency
row, add to the positions' reserved units, COMMIT (an fsync), then answer.
The sqlite3 module runs in one worker thread (``aiosqlite`` is not
installed here; it would do the same: one thread per connection), so the
event loop keeps accepting calls while a commit waits for the disk, and the
transactions, like their fsyncs, go one at a time.

Replays answer from the stored row (the same reservation id, ``replayed``
set); a reused key with another request is IDEMPOTENCY_KEY_REUSED. Not
modelled: expiry of holds, rule sets, refusals kept for replay, any other RPC.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import common
from holdfast.v1 import inventory_pb2 as pb

SCHEMA = """
CREATE TABLE IF NOT EXISTS positions (
    sku TEXT NOT NULL, location TEXT NOT NULL, on_hand INTEGER NOT NULL,
    reserved INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL, received_at INTEGER NOT NULL,
    PRIMARY KEY (sku, location)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, order_ref TEXT NOT NULL, channel TEXT NOT NULL, state TEXT NOT NULL,
    created INTEGER NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservation_lines (
    reservation_id TEXT NOT NULL, n INTEGER NOT NULL, sku TEXT NOT NULL, location TEXT NOT NULL,
    quantity INTEGER NOT NULL, state TEXT NOT NULL,
    PRIMARY KEY (reservation_id, n)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    tenant TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    reservation_id TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER NOT NULL,
    PRIMARY KEY (tenant, key)) WITHOUT ROWID;
"""


@dataclass
class Verdict:
    """What a reserve transaction decided: ``kind`` is ok, replay, reused,
    unknown or short."""

    kind: str
    reservation_id: str = ""
    created: int = 0
    expires: int = 0
    sku: str = ""
    location: str = ""
    asked: int = 0
    available: int = 0


class Store:
    """One connection, used only from the one worker thread."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.executescript(SCHEMA)

    def reserve(
        self,
        key: str,
        fp: str,
        rid: str,
        order_ref: str,
        channel: str,
        lines: list[common.Line],
        now: int,
        expires: int,
    ) -> Verdict:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            verdict = self._decide(key, fp, rid, order_ref, channel, lines, now, expires)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if verdict.kind == "ok" else "ROLLBACK")
        return verdict

    def _decide(
        self,
        key: str,
        fp: str,
        rid: str,
        order_ref: str,
        channel: str,
        lines: list[common.Line],
        now: int,
        expires: int,
    ) -> Verdict:
        conn = self.conn
        prior = conn.execute(
            "SELECT fingerprint, reservation_id, created, expires FROM idempotency"
            " WHERE tenant = ? AND key = ?",
            (common.TENANT, key),
        ).fetchone()
        if prior is not None:
            if prior[0] != fp:
                return Verdict("reused")
            return Verdict("replay", prior[1], prior[2], prior[3])
        wanted: dict[tuple[str, str], int] = {}
        for sku, location, quantity in lines:
            wanted[(sku, location)] = wanted.get((sku, location), 0) + quantity
        for (sku, location), asked in wanted.items():
            row = conn.execute(
                "SELECT on_hand - reserved FROM positions WHERE sku = ? AND location = ?",
                (sku, location),
            ).fetchone()
            if row is None:
                return Verdict("unknown", sku=sku, location=location)
            if row[0] < asked:
                return Verdict("short", sku=sku, location=location, asked=asked, available=row[0])
        conn.execute(
            "INSERT INTO reservations VALUES (?, ?, ?, 'RESERVED', ?, ?)",
            (rid, order_ref, channel, now, expires),
        )
        conn.executemany(
            "INSERT INTO reservation_lines VALUES (?, ?, ?, ?, ?, 'RESERVED')",
            [(rid, n, sku, location, qty) for n, (sku, location, qty) in enumerate(lines)],
        )
        conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?, ?)",
            (common.TENANT, key, fp, rid, now, now + 86_400_000),
        )
        conn.executemany(
            "UPDATE positions SET reserved = reserved + ? WHERE sku = ? AND location = ?",
            [(asked, sku, location) for (sku, location), asked in wanted.items()],
        )
        return Verdict("ok", rid, now, expires)

    def set_stock(self, sku: str, location: str, on_hand: int, seq: int, now: int) -> int:
        """A count replaces on_hand (no sequence check, no idempotency: setup only)."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO positions (sku, location, on_hand, seq, received_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (sku, location) DO UPDATE SET"
            " on_hand = excluded.on_hand, seq = excluded.seq,"
            " received_at = excluded.received_at",
            (sku, location, on_hand, seq, now),
        )
        row = conn.execute(
            "SELECT reserved FROM positions WHERE sku = ? AND location = ?", (sku, location)
        ).fetchone()
        conn.execute("COMMIT")
        return int(row[0])

    def positions(self, skus: list[str], locations: list[str]) -> list[tuple[Any, ...]]:
        rows = self.conn.execute(
            "SELECT sku, location, on_hand, reserved, seq, received_at FROM positions"
            " ORDER BY sku, location"
        ).fetchall()
        return [
            row
            for row in rows
            if (not skus or row[0] in skus) and (not locations or row[1] in locations)
        ]


def fingerprint(request: pb.ReserveRequest) -> str:
    lines = "\x1e".join(f"{x.sku}\x1f{x.location}\x1f{x.quantity}" for x in request.lines)
    return "\x1d".join(
        (request.order_ref, request.channel, lines, str(request.hold_seconds),
         str(request.allow_partial))
    )  # fmt: skip


class SqliteServicer(common.PeerServicer):
    def __init__(self, path: str) -> None:
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self.store = Store(path)

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.thread, function, *args)

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:  # noqa: N802
        problem = common.check_reserve(request)
        if problem:
            await common.refuse(context, "INVALID_ARGUMENT", problem)
        lines = common.request_lines(request)
        now = common.now_ms()
        expires = now + (request.hold_seconds * 1000 or common.DEFAULT_HOLD_MS)
        key = request.idempotency_key
        verdict: Verdict = await self._in_thread(
            self.store.reserve,
            key,
            fingerprint(request),
            common.mint_id(),
            request.order_ref,
            request.channel,
            lines,
            now,
            expires,
        )
        if verdict.kind == "reused":
            await common.refuse(
                context, "IDEMPOTENCY_KEY_REUSED", f"key {key} was used for another request"
            )
        if verdict.kind == "unknown":
            await common.refuse(
                context, "UNKNOWN_SKU", f"no position for {verdict.sku} at {verdict.location}"
            )
        if verdict.kind == "short":
            await common.refuse(
                context,
                "INSUFFICIENT_STOCK",
                f"{verdict.asked} of {verdict.sku} at {verdict.location} asked,"
                f" {verdict.available} available",
                verdict.sku,
            )
        return common.reserve_response(
            verdict.reservation_id,
            request.order_ref,
            request.channel,
            lines,
            verdict.created,
            verdict.expires,
            key,
            verdict.kind == "replay",
        )

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        now = common.now_ms()
        reserved = await self._in_thread(
            self.store.set_stock,
            request.sku,
            request.location,
            request.on_hand,
            request.source_sequence,
            now,
        )
        return common.stock_response(
            request.sku, request.location, request.on_hand, reserved, request.source_sequence, now
        )

    async def GetAvailability(  # noqa: N802
        self, request: pb.GetAvailabilityRequest, context: Any
    ) -> pb.GetAvailabilityResponse:
        rows = await self._in_thread(
            self.store.positions, list(request.skus), list(request.locations)
        )
        return pb.GetAvailabilityResponse(
            positions=[common.position(*row) for row in rows],
            as_of=common.timestamp(common.now_ms()),
        )


def main() -> int:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--database", required=True)
    options = parser.parse_args()
    return asyncio.run(common.serve(options.listen, SqliteServicer(options.database)))  # type: ignore[abstract]


if __name__ == "__main__":
    sys.exit(main())
