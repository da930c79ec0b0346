"""Group commit: the bounded queue between the event loop and the writer thread.

The event loop decides and appends the drained events to the open group; the
writer thread takes the whole group at once and commits it in one
transaction, so the events of every call decided while the previous
transaction was committing share the next one. Calls wait (on the loop, never
blocking it) for the group holding their events; groups commit in order, so
a call answered has every earlier decision durable too.

When a commit fails, the writer stops taking groups, every waiting call is
told so, the engine is rebuilt from what is durable, and a probe (a tiny
write every ``probe_s``) finds when the journal can be written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from holdfast import clock
from holdfast.logs import fields
from holdfast.store import sqlite

log = logging.getLogger("holdfast.store")


class JournalWriteError(Exception):
    """The transaction holding a call's events did not commit."""


class _Group:
    __slots__ = ("calls", "events", "future", "last_seq", "snapshot")

    def __init__(self) -> None:
        self.events: list[tuple[int, bytes]] = []
        self.calls = 0
        self.snapshot: tuple[int, int, bytes] | None = None
        self.future: asyncio.Future[int] | None = None  # made when someone waits
        self.last_seq = 0


class GroupCommit:
    """One SQLite file's writer thread and the loop-side queue feeding it.

    Loop-side methods (``append``, ``settle``, ``wait_committed``, the
    properties) are called only on the event loop's thread.
    """

    def __init__(
        self,
        path: str,
        *,
        synchronous: str,
        lock_timeout_s: float,
        probe_s: float,
        queue_limit: int,
        retention_ms: int,
        engine_options: Mapping[str, Any],
        committed_seq: int,
        image: sqlite.DurableImage,
        on_failed: Callable[[], None],
        on_rebuilt: Callable[[sqlite.Rebuilt], None],
        on_recovered: Callable[[], None],
        on_committed: Callable[[int, float], None] | None = None,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._lock_timeout_s = lock_timeout_s
        self._probe_s = probe_s
        self._queue_limit = queue_limit
        self._retention_ms = retention_ms
        self._engine_options = dict(engine_options)
        self._on_failed = on_failed
        self._on_rebuilt = on_rebuilt
        self._on_recovered = on_recovered
        # Each transaction's calls and seconds (for the group-commit metrics).
        self._on_committed = on_committed
        # The lowest event seq a reader still needs (the outbox's first
        # undelivered); compaction keeps it and every later one. Set by the
        # server; read on the writer thread.
        self.keep_from: Callable[[], int] | None = None
        # Shared with the writer thread, under _lock.
        self._lock = threading.Condition()
        self._open: _Group | None = None
        self._failed = False
        self._stopping = False
        # Loop side only.
        self._waiting: deque[_Group] = deque()  # open or being written, oldest first
        self._pending_calls = 0
        self._progress: asyncio.Future[None] | None = None
        self.committed_seq = committed_seq
        # Writer thread only: what is durable, to rebuild from without the file.
        self._image = image
        self.last_committed_at: int | None = None
        self.healthy = True
        # Counters the writer keeps (read them for metrics or tests).
        self.transactions = 0
        self.events_written = 0
        self._commit_s = 0.005  # a running mean of a transaction's duration
        self._conn: sqlite3.Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # Loop side -----------------------------------------------------------------

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._conn = sqlite.connect(self.path, self._synchronous, self._lock_timeout_s)
        self._thread = threading.Thread(target=self._run, name="holdfast-writer", daemon=True)
        self._thread.start()

    @property
    def full(self) -> bool:
        return self._pending_calls >= self._queue_limit

    @property
    def retry_after_s(self) -> float:
        """A delay worth waiting before retrying: about two transactions' time."""
        return min(2.0, max(0.05, 2 * self._commit_s))

    def append(
        self,
        events: list[tuple[int, bytes]],
        calls: int = 1,
        snapshot: tuple[int, int, bytes] | None = None,
    ) -> None:
        """Queue a decision's events (and perhaps a snapshot after them)."""
        if not events and snapshot is None:
            return
        with self._lock:
            group = self._open
            if group is None:
                group = self._open = _Group()
                self._waiting.append(group)
                self._lock.notify()
            group.events.extend(events)
            if events:
                group.last_seq = events[-1][0]
            if snapshot is not None:
                group.snapshot = snapshot
        group.calls += calls
        self._pending_calls += calls

    async def settle(self) -> int | None:
        """Wait until everything appended so far is durable; when it committed.

        ``None`` when nothing has committed since start-up. Raises
        :class:`JournalWriteError` when the transaction holding it failed.
        """
        if not self._waiting:
            return self.last_committed_at
        group = self._waiting[-1]
        if group.future is None:
            group.future = asyncio.get_running_loop().create_future()
        # Shielded: a cancelled call must not cancel the others' wait.
        return await asyncio.shield(group.future)

    async def wait_committed(self, after_seq: int) -> None:
        """Return once an event after ``after_seq`` is durable."""
        while self.committed_seq <= after_seq:
            if self._progress is None:
                self._progress = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._progress)

    def reader(self) -> sqlite3.Connection:
        return sqlite.reader(self.path)

    async def close(self) -> None:
        """Commit what is queued, stop the writer, close the file."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
        log.info(
            "journal closed",
            extra=fields(
                transactions=self.transactions,
                events=self.events_written,
                committed_seq=self.committed_seq,
            ),
        )

    def _committed(self, group: _Group, committed_at: int, seconds: float) -> None:
        if self._waiting and self._waiting[0] is group:
            self._waiting.popleft()
        self._pending_calls -= group.calls
        if group.last_seq:
            self.committed_seq = max(self.committed_seq, group.last_seq)
        self.last_committed_at = committed_at
        if group.future is not None:
            group.future.set_result(committed_at)
        self._wake_watchers()
        if self._on_committed is not None:
            self._on_committed(group.calls, seconds)

    def _wake_watchers(self) -> None:
        """Wake every wait_committed() waiter: committed_seq moved."""
        if self._progress is not None:
            self._progress.set_result(None)
            self._progress = None

    def _failed_on_loop(self, error: str) -> None:
        with self._lock:
            self._open = None  # decided after the failed group: lost with it
        doomed, self._waiting = self._waiting, deque()
        for group in doomed:
            if group.future is not None:
                group.future.set_exception(JournalWriteError(error))
        self._pending_calls = 0
        self.healthy = False
        log.error(
            "journal write failed; commitments refused until it recovers",
            extra=fields(error=error, lost_calls=sum(g.calls for g in doomed)),
        )
        self._on_failed()

    def _rebuilt_on_loop(self, rebuilt: sqlite.Rebuilt) -> None:
        self.committed_seq = rebuilt.committed_seq
        self._on_rebuilt(rebuilt)
        # A failed commit may have reached the file after all: its events are
        # now committed, and the feed should not wait for the next commit.
        self._wake_watchers()

    def _recovered_on_loop(self) -> None:
        self.healthy = True
        log.info("journal recovered; commitments resume")
        self._on_recovered()

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # the loop closed at exit
            self._loop.call_soon_threadsafe(callback, *args)

    # Writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._open is None and not self._stopping and not self._failed:
                    self._lock.wait()
                if self._failed:
                    if self._stopping:
                        break
                    group = None
                else:
                    group, self._open = self._open, None
                    if group is None:  # stopping, nothing left
                        break
            if group is None:
                self._recover()
            else:
                self._write(group)
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _write(self, group: _Group) -> None:
        assert self._conn is not None
        started = clock.monotonic_s()
        committed_at = clock.now_ms()
        try:
            sqlite.append(self._conn, group.events, committed_at, group.snapshot)
        except Exception as e:
            with self._lock:
                self._failed = True
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
            self._post(self._failed_on_loop, f"{type(e).__name__}: {e}")
            return
        snapshot = None if group.snapshot is None else (group.snapshot[0], group.snapshot[2])
        self._image.committed(group.events, snapshot)
        self.transactions += 1
        self.events_written += len(group.events)
        seconds = clock.monotonic_s() - started
        self._commit_s = 0.9 * self._commit_s + 0.1 * seconds
        self._post(self._committed, group, committed_at, seconds)
        if group.snapshot is not None:
            self._compact()

    def _compact(self) -> None:
        assert self._conn is not None
        keep_from = None if self.keep_from is None else self.keep_from()
        try:
            deleted = sqlite.compact(
                self._conn, clock.now_ms() - self._retention_ms, keep_from_seq=keep_from
            )
        except sqlite3.Error as e:
            # Compaction is housekeeping: the next snapshot tries again.
            log.warning("journal compaction failed", extra=fields(error=str(e)))
            return
        if deleted:
            log.info("journal compacted", extra=fields(deleted_events=deleted))

    def _wait_probe(self) -> bool:
        """Sleep one probe interval; False when stopping."""
        with self._lock:
            if not self._stopping:
                self._lock.wait(self._probe_s)
            return not self._stopping

    def _recover(self) -> None:
        # First the engine, from what is durable, so reads are served from it.
        rebuilt = None
        while rebuilt is None:
            try:
                rebuilt = self._rebuild()
            except Exception as e:
                log.warning("journal unreadable", extra=fields(error=str(e)))
                if not self._wait_probe():
                    return
        self._post(self._rebuilt_on_loop, rebuilt)
        # Then probe until a write commits again.
        while self._wait_probe():
            conn = None
            try:
                conn = sqlite.connect(self.path, self._synchronous, self._lock_timeout_s)
                sqlite.probe(conn)
                if sqlite.max_seq(conn) != rebuilt.committed_seq:
                    # A failed commit that reached the file after all.
                    rebuilt = sqlite.rebuild(conn, self._engine_options)
                    self._image = rebuilt.image
                    self._post(self._rebuilt_on_loop, rebuilt)
            except Exception as e:
                if conn is not None:
                    conn.close()
                log.info("journal still failing", extra=fields(error=str(e)))
                continue
            self._conn = conn
            with self._lock:
                self._failed = False
            self._post(self._recovered_on_loop)
            return

    def _rebuild(self) -> sqlite.Rebuilt:
        # From memory, not the file: a full disk can keep even a reader from
        # opening the WAL database, and reads must go on from what is durable.
        return self._image.rebuild(self._engine_options)
