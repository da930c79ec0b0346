"""Helpers for the audit trail and feed tests: a real durable server on a
temp database file, and a feed consumer running in a thread."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.client import Client, HoldfastError
from holdfast.v1 import inventory_pb2 as pb

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # a cold interpreter on a busy 2-core machine
STOP_TIMEOUT = 30.0
WAIT_EVENTS = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DurableServer:
    """``python -m holdfast serve --database FILE`` on a fresh loopback port.

    ``start()`` may be called again after the process ended (a restart on
    the same file); each start takes a new port, so a port still held by
    the dead process never gets in the way.
    """

    def __init__(self, database: Path | None, log_path: Path, *extra: str) -> None:
        self.database = database
        self.log_path = log_path
        self.extra = extra
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> DurableServer:
        self.port = free_port()
        # No database: the memory-only mode, which has no journal to read.
        storage = ["--in-memory"] if self.database is None else ["--database", str(self.database)]
        command = [
            sys.executable,
            "-m",
            "holdfast",
            "serve",
            "--listen",
            self.target,
            *storage,
            *self.extra,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.wait_serving()
        return self

    def wait_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"server exited with {self.process.returncode}:\n{self.log()}"
                    )
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"server not SERVING after {START_TIMEOUT}s:\n{self.log()}"
                    )
                time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM and the exit code (killed if it does not drain in time)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def kill(self) -> None:
        """SIGKILL: no drain, no snapshot, nothing flushed but what was committed."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)

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
        self._thread.join(timeout=STOP_TIMEOUT)


def sequences(events: list[pb.Event]) -> list[int]:
    return [event.sequence for event in events]
