"""Periodic upkeep of the durable state: snapshots and idempotency purges.

Both are decisions of the engine's or copies of its state, so they run on the
event loop and reach the file through the group commit like any decision.
Compaction (old events, old snapshots) follows each snapshot in the writer.
"""

from __future__ import annotations

import asyncio
import logging

from holdfast import clock
from holdfast.config import Settings
from holdfast.errors import Refusal
from holdfast.ledger import Ledger
from holdfast.logs import fields

log = logging.getLogger("holdfast.store")

# How often the schedule is looked at; each job runs at its own interval.
_TICK_S = 0.5


async def housekeep(ledger: Ledger, settings: Settings) -> None:
    if not ledger.durable:
        return
    snapshot_s = settings.snapshot_interval_seconds
    next_snapshot = clock.monotonic_s() + snapshot_s
    next_purge = clock.monotonic_s() + settings.idempotency_purge_seconds
    while True:
        await asyncio.sleep(min(_TICK_S, snapshot_s or _TICK_S))
        now = clock.monotonic_s()
        try:
            if snapshot_s and now >= next_snapshot:
                next_snapshot = now + snapshot_s
                await ledger.snapshot_async(clock.now_ms())
            if now >= next_purge:
                next_purge = now + settings.idempotency_purge_seconds
                purged = await ledger.purge_async(clock.now_ms())
                if purged:
                    log.info("idempotency keys purged", extra=fields(count=purged))
        except Refusal:
            continue  # the journal is failing: the next tick tries again
        except Exception:
            log.exception("housekeeping failed")
