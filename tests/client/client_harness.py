"""A real holdfast server in a subprocess on a loopback port, for the client tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
START_TIMEOUT = 60.0  # generous: the machine is shared and may be slow
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """``python -m holdfast serve`` on 127.0.0.1:<port>, its log in a file."""

    def __init__(self, log_path: Path, port: int | None = None, *extra: str) -> None:
        self.port = port if port is not None else free_port()
        self.log_path = log_path
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        command = [
            PYTHON,
            "-m",
            "holdfast",
            "serve",
            "--listen",
            self.target,
            "--sweep-interval",
            "0.05",
            *self.extra,
        ]
        if "--database" not in self.extra and "--in-memory" not in self.extra:
            # State in a file beside the log, never in the working directory.
            command += ["--database", str(self.log_path.with_suffix(".db"))]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def wait_serving(self, timeout: float = START_TIMEOUT) -> None:
        """Poll grpc.health.v1 until the server says SERVING."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {self.process.returncode}:\n{self.log()}"
                    )
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"server not SERVING after {timeout} s:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, wait for the drain; SIGKILL only if it hangs. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process is not None else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired as hung:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(
                f"server ignored SIGTERM for {STOP_TIMEOUT} s:\n{self.log()}"
            ) from hung


def run_ctl(target: str, *args: str, tenant: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m holdfast ctl --target T [--tenant X] ARGS`` as a person would run it."""
    command = [PYTHON, "-m", "holdfast", "ctl", "--target", target]
    if tenant is not None:
        command += ["--tenant", tenant]
    return subprocess.run(
        [*command, *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
