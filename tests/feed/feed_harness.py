"""Helpers for the audit trail and feed tests: a real durable server on a
temp database file, and a feed consumer running in a thread."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from holdfast.client import Client, HoldfastError
from holdfast.v1 import inventory_pb2 as pb
from serverproc import REPO, STOP_TIMEOUT_S, ServerProcess, free_port, serve_command

__all__ = ["REPO"]  # re-exported for the tests here
WAIT_EVENTS = 30.0


class DurableServer(ServerProcess):
    """``python -m holdfast serve --database FILE`` on a fresh loopback port.

    ``start()`` may be called again after the process ended (a restart on
    the same file); each start takes a new port, so a port still held by
    the dead process never gets in the way.
    """

    def __init__(self, database: Path | None, log_path: Path, *extra: str) -> None:
        super().__init__(log_path, 0)
        self.database = database
        self.extra = extra

    def start(self) -> DurableServer:
        self.port = free_port()
        # No database: the memory-only mode, which has no journal to read.
        storage = ["--in-memory"] if self.database is None else ["--database", str(self.database)]
        self.launch(serve_command("--listen", self.target, *storage, *self.extra))
        self.wait_serving()
        return self

    def client(self, tenant: str, actor: str = "tester") -> Client:
        return Client(self.target, tenant=tenant, actor=actor, timeout=20.0)


class Consumer:
    """A downstream system reading WatchEvents in a thread, as it arrives."""

    def __init__(self, target: str, from_sequence: int) -> None:
        self._client = Client(target, timeout=20.0)
        self._from = from_sequence
        self.events: list[pb.Event] = []
        self.error: HoldfastError | None = None
        self.ended = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._client.watch_events(self._from):
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except HoldfastError as error:
            self.error = error
        finally:
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_EVENTS) -> list[pb.Event]:
        """The first ``count`` events received (fails if they do not come in time)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0 or self.ended.is_set():
                    raise AssertionError(
                        f"got {len(self.events)} of {count} events (error: {self.error})"
                    )
                self._changed.wait(left)
            return list(self.events[:count])

    def wait_ended(self, timeout: float = WAIT_EVENTS) -> None:
        assert self.ended.wait(timeout), "the feed did not end"

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=STOP_TIMEOUT_S)


def sequences(events: list[pb.Event]) -> list[int]:
    return [event.sequence for event in events]
