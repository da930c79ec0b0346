"""A real server process for tests and benchmarks: launched on a loopback port
with its output appended to a log file, waited on until grpc.health.v1 says
SERVING, stopped with SIGTERM (or SIGKILL), its JSON log lines read back.

Each suite's harness subclasses ``ServerProcess`` to choose its own flags,
database location and log file; this module only owns the process.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SERVICE = "holdfast.v1.InventoryService"
START_TIMEOUT_S = 60.0  # a cold interpreter on a busy 2-core machine
STOP_TIMEOUT_S = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_ctl(
    target: str, *args: str, tenant: str | None = None, actor: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m holdfast ctl --target T [--tenant X] [--actor A] ARGS``, as
    a person would run it (no stdin, output captured)."""
    command = [PYTHON, "-m", "holdfast", "ctl", "--target", target]
    if tenant is not None:
        command += ["--tenant", tenant]
    if actor is not None:
        command += ["--actor", actor]
    return subprocess.run(
        [*command, *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def serve_command(*args: str) -> list[str]:
    """``python -m holdfast serve ARGS`` with this interpreter."""
    return [PYTHON, "-m", "holdfast", "serve", *args]


class ServerProcess:
    """One server subprocess at a time on 127.0.0.1:<port>; restartable.

    Every launch appends to ``log_path`` and remembers where its own output
    begins, so the log checks read what the latest launch wrote.
    """

    def __init__(
        self,
        log_path: Path,
        port: int | None = None,
        *,
        health_service: str = "",
        stdout_to_log: bool = True,
    ) -> None:
        self.log_path = log_path
        self.port = port if port is not None else free_port()
        self.health_service = health_service  # the service name the health check asks about
        self.stdout_to_log = stdout_to_log  # else stdout is discarded, the log is stderr only
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self, command: Sequence[str]) -> None:
        """Run ``command`` (the whole argv) from the repository root."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                list(command),
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log if self.stdout_to_log else subprocess.DEVNULL,
                stderr=log,
                # Test servers serve no /metrics unless a test asks (by flag):
                # many run side by side and would share the default port.
                env={"HOLDFAST_METRICS_LISTEN": "", **os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def health_channel(self) -> grpc.Channel:
        """The channel health is asked over (a TLS server overrides it)."""
        return grpc.insecure_channel(self.target)

    def wait_serving(self, timeout: float = START_TIMEOUT_S, poll: float = 0.05) -> float:
        """Poll grpc.health.v1 until SERVING; the seconds it took."""
        assert self.process is not None
        began = time.monotonic()
        request = health_pb2.HealthCheckRequest(service=self.health_service)
        with self.health_channel() as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                code = self.process.poll()
                if code is not None:
                    raise AssertionError(
                        f"server exited with {code} at start:\n{self.log_since_start()}"
                    )
                try:
                    if (
                        health.Check(request, timeout=1.0).status
                        == health_pb2.HealthCheckResponse.SERVING
                    ):
                        return time.monotonic() - began
                except grpc.RpcError:
                    pass
                if time.monotonic() - began > timeout:
                    raise AssertionError(
                        f"server not SERVING after {timeout} s:\n{self.log_since_start()}"
                    )
                time.sleep(poll)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait(self, timeout: float = STOP_TIMEOUT_S) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, wait for the drain, the exit code; SIGKILL (and fail) if it hangs."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as hung:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"server ignored SIGTERM for {timeout} s:\n{self.log_since_start()}"
            ) from hung

    def kill(self) -> None:
        """SIGKILL: no drain, no snapshot, nothing flushed but what was committed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(timeout=STOP_TIMEOUT_S)

    def log_text(self) -> str:
        """The whole log file, every launch."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_since_start(self) -> str:
        """What the latest launch has logged so far."""
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The latest launch's JSON log lines (anything else, or a line cut short, skipped)."""
        records = []
        for line in self.log_since_start().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records


Served = TypeVar("Served", bound=ServerProcess)


def serving(process: Served) -> Iterator[Served]:
    """A fixture's body for a launched server: wait until it serves (kill it
    if it never does), yield it, then SIGTERM it; it must drain and exit 0."""
    try:
        process.wait_serving()
    except BaseException:
        process.kill()
        raise
    yield process
    code = process.stop()
    assert code == 0, process.log_since_start()
