"""The outbox: committed journal events delivered to the events sink.

The journal is the outbox. This task reads what is committed after the last
delivered sequence, appends it to the sink file as JSON lines (one per event:
``{"seq", "committed_at", "kind", "event"}``), fsyncs, then records the
delivered sequence in the cursor file beside the sink (``<sink>.cursor``,
replaced atomically). Delivery is therefore at least once: a crash between
the sink's fsync and the cursor's leaves a batch to be delivered again, and
consumers dedupe by ``seq`` (docs/dependencies.md).

Every delivery attempt goes through the ``events`` breaker. While it refuses,
delivery pauses; nothing is lost, the events stay in the journal (compaction
keeps every event from :meth:`Outbox.first_undelivered` on), and delivery
resumes from the cursor. Decisions never wait for the sink.

File work runs off the event loop (``asyncio.to_thread``), one batch at a
time; an attempt is never abandoned half-way (no timeout cancels it: a write
still running in its thread would interleave with the next attempt), so a
sink that hangs shows as slow calls and a growing backlog.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from holdfast import Engine, clock
from holdfast.breakers import EVENTS, Breakers
from holdfast.errors import Refusal
from holdfast.logs import fields
from holdfast.store.events import JournalReader, StoredEvent

if TYPE_CHECKING:
    from holdfast.config import Settings
    from holdfast.ledger import Ledger
    from holdfast.metrics import Metrics

log = logging.getLogger("holdfast.outbox")

# Events appended (and fsynced) per delivery.
BATCH = 500
# After a failed delivery the breaker let through, the first wait before the
# next one (doubling up to the breaker's retry hint).
FIRST_BACKOFF_S = 0.05


def cursor_path(sink: str) -> Path:
    return Path(sink + ".cursor")


def read_cursor(sink: str) -> int:
    """The last delivered sequence (0: nothing delivered yet)."""
    try:
        text = cursor_path(sink).read_text().strip()
    except FileNotFoundError:
        return 0
    return int(text) if text.isdecimal() else 0


class Outbox:
    def __init__(
        self, sink: str, ledger: Ledger, breakers: Breakers, metrics: Metrics | None = None
    ) -> None:
        self.sink = sink
        self._ledger = ledger
        self._breakers = breakers
        self._metrics = metrics
        self._journal = JournalReader(ledger.reader)
        # Read once at start; from then on this process alone moves it.
        self.delivered = read_cursor(sink)

    def first_undelivered(self) -> int:
        """The lowest sequence the journal must keep (read by compaction,
        on the writer thread: one int read, no lock needed)."""
        return self.delivered + 1

    def backlog(self) -> int:
        """Committed events not delivered yet (the outbox backlog gauge)."""
        return max(0, self._ledger.committed_seq - self.delivered)

    async def run(self) -> None:
        """Deliver forever (cancel to stop; the cursor says where to resume)."""
        backoff = FIRST_BACKOFF_S
        while True:
            if self._ledger.committed_seq <= self.delivered:
                await self._ledger.wait_committed(self.delivered)
                continue
            backoff = await self._attempt(backoff)

    async def drain(self, limit_s: float) -> None:
        """At a graceful stop: deliver what is committed, for at most
        ``limit_s``; what is left is delivered after the next start."""
        target = self._ledger.committed_seq
        backoff = FIRST_BACKOFF_S
        try:
            async with asyncio.timeout(limit_s):
                while self.delivered < target:
                    backoff = await self._attempt(backoff)
        except TimeoutError:
            log.warning(
                "events left undelivered at shutdown; delivered after the next start",
                extra=fields(sink=self.sink, delivered=self.delivered, committed_seq=target),
            )

    async def _attempt(self, backoff: float) -> float:
        """One delivery through the events breaker; the next failure's backoff."""
        try:
            self._breakers.acquire(EVENTS)
        except Refusal as refusal:
            # OPEN (or forced open): pause; the breaker says for how long.
            await asyncio.sleep(max(FIRST_BACKOFF_S, refusal.retry_after_s or 0.0))
            return backoff
        started = clock.monotonic_s()
        up_to = self._ledger.committed_seq
        try:
            batch = await self._next_batch(up_to)
            await asyncio.to_thread(self._deliver, batch)
        except asyncio.CancelledError:
            self._breakers.release(EVENTS)
            raise
        except Exception as e:
            self._breakers.failed(EVENTS, clock.monotonic_s() - started)
            log.warning(
                f"cannot deliver events to {self.sink}: {e}",
                extra=fields(sink=self.sink, delivered=self.delivered, error=str(e)),
            )
            await asyncio.sleep(backoff)
            return min(2 * backoff, self._retry_hint_s)
        self._breakers.succeeded(EVENTS, clock.monotonic_s() - started)
        # An empty batch: everything up to there was compacted before a
        # sink was configured (logged); nothing is left to deliver of it.
        self.delivered = batch[-1].seq if batch else up_to
        if batch and self._metrics is not None:
            self._metrics.delivered(len(batch))
        return FIRST_BACKOFF_S

    @property
    def _retry_hint_s(self) -> float:
        hint_ms: int = self._breakers.view(EVENTS)["settings"]["retry_hint_ms"]
        return max(FIRST_BACKOFF_S, hint_ms / 1000)

    async def _next_batch(self, up_to: int) -> list[StoredEvent]:
        first = self.delivered + 1
        batch = await self._journal.events_from(first, up_to, BATCH)
        if not batch or batch[0].seq != first:
            # Only when the sink was configured after these were compacted away.
            resumed = batch[0].seq if batch else up_to + 1
            log.warning(
                f"events {first} to {resumed - 1} are no longer in the journal; "
                "delivering from the oldest retained",
                extra=fields(sink=self.sink, first_missing=first, resumed_at=resumed),
            )
        return batch

    def _deliver(self, batch: list[StoredEvent]) -> None:
        """Append, fsync, then move the cursor (in a worker thread)."""
        if not batch:
            return
        lines = "".join(_line(event) for event in batch).encode()
        with open(self.sink, "ab") as sink:
            sink.write(lines)
            sink.flush()
            os.fsync(sink.fileno())
        cursor = cursor_path(self.sink)
        temporary = cursor.with_name(cursor.name + ".tmp")
        with open(temporary, "w") as f:
            f.write(f"{batch[-1].seq}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, cursor)
        directory = os.open(cursor.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a crash
        finally:
            os.close(directory)


def _line(event: StoredEvent) -> str:
    summary = Engine.event_summary(event.body)
    record = {
        "seq": event.seq,
        "committed_at": event.committed_at,
        "kind": summary["kind"],
        "event": json.loads(Engine.event_json(event.body)),
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def configured(
    settings: Settings, ledger: Ledger, breakers: Breakers, metrics: Metrics | None
) -> Outbox | None:
    """The outbox the settings ask for, wired to compaction and the backlog
    gauge; None without a sink (or without a journal to deliver from)."""
    if not settings.events_sink:
        return None
    if ledger.store is None:
        log.error(
            "events_sink needs the journal: this server runs in memory; nothing is delivered",
            extra=fields(sink=settings.events_sink),
        )
        return None
    outbox = Outbox(settings.events_sink, ledger, breakers, metrics)
    ledger.store.keep_from = outbox.first_undelivered
    if metrics is not None:
        metrics.watch_outbox(outbox.backlog)
    log.info(
        f"delivering committed events to {outbox.sink} from seq {outbox.first_undelivered()}",
        extra=fields(sink=outbox.sink, delivered=outbox.delivered),
    )
    return outbox


async def deliver(outbox: Outbox | None) -> None:
    """The outbox's task (nothing to do without a sink)."""
    if outbox is not None:
        await outbox.run()
