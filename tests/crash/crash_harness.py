"""A durable holdfast server in a subprocess that can be killed for real.

Like tests/client/client_harness.py, but the server keeps its state in an
SQLite file (``--database``), can be SIGKILLed at any moment, and is started
again on the same file. Also the file-level checks a crash leaves to do:
``PRAGMA integrity_check`` on the database as the kill left it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 90.0  # generous: the machine is shared and replay takes a moment
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DurableServer:
    """``python -m holdfast serve --database FILE`` on 127.0.0.1:<port>.

    Each start appends to one log file and remembers where its own output
    begins, so a check can read what the latest start logged.
    """

    def __init__(
        self,
        database: Path,
        log_path: Path,
        *extra: str,
        port: int | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        self.database = database
        self.log_path = log_path
        self.extra = extra
        self.port = port if port is not None else free_port()
        # Put before the command (e.g. ``taskset -c 0``).
        self.prefix = tuple(prefix)
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_since_start(self) -> str:
        """What the latest start has logged so far."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def log_records(self) -> Iterator[dict[str, Any]]:
        """The latest start's JSON log lines (anything else skipped)."""
        for line in self.log_since_start().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [
            *self.prefix,
            PYTHON,
            "-m",
            "holdfast",
            "serve",
            "--listen",
            self.target,
            "--database",
            str(self.database),
            *self.extra,
        ]
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_serving(self, timeout: float = START_TIMEOUT) -> float:
        """Poll grpc.health.v1 until SERVING; the seconds it took."""
        assert self.process is not None
        began = time.monotonic()
        deadline = began + timeout
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.process.returncode}:\n{self.log_since_start()}"
                    )
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.monotonic() - began
                except grpc.RpcError:
                    pass
                time.sleep(0.02)
        raise RuntimeError(f"server not SERVING after {timeout} s:\n{self.log_since_start()}")

    def kill(self) -> None:
        """SIGKILL: no drain, no snapshot, no goodbye."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> int:
        """SIGTERM and wait for the drain; SIGKILL only if it hangs. The exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as hung:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(
                f"server ignored SIGTERM for {STOP_TIMEOUT} s:\n{self.log_since_start()}"
            ) from hung


def integrity_check(database: Path, scratch: Path) -> str:
    """``PRAGMA integrity_check`` of the file as the kill left it (``"ok"`` when sound).

    Checked on a copy of the database and its ``-wal`` (in ``scratch``): opening
    the original would recover and checkpoint its WAL on close, and the
    restarted server must meet the file exactly as the crash left it.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / database.name
    for suffix in ("", "-wal"):
        source = Path(f"{database}{suffix}")
        target = Path(f"{copy}{suffix}")
        target.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)
    Path(f"{copy}-shm").unlink(missing_ok=True)  # rebuilt from the WAL on open
    connection = sqlite3.connect(copy, timeout=30)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "\n".join(str(row[0]) for row in rows)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a file (a line cut short by a kill is skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
