"""Starting the servers the durability benchmarks measure, each in its own process."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pin_prefix(core: int | None) -> list[str]:
    """``taskset -c CORE`` when asked for and available."""
    if core is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core)]


def command(mode: str, listen: str, database: Path) -> list[str]:
    """The command line of a server of this mode."""
    if mode == "in-memory":
        return [PYTHON, "-m", "holdfast", "serve", "--listen", listen, "--in-memory"]
    if mode in ("durable", "durable-normal"):
        sync = "FULL" if mode == "durable" else "NORMAL"
        return [
            PYTHON, "-m", "holdfast", "serve", "--listen", listen,
            "--database", str(database), "--synchronous", sync,
        ]  # fmt: skip
    if mode == "naive":
        return [
            PYTHON, str(HERE / "naive_server.py"), "--listen", listen,
            "--database", str(database),
        ]  # fmt: skip
    raise ValueError(f"unknown mode {mode}")


class Server:
    def __init__(self, argv: list[str], log_path: Path, port: int) -> None:
        self.port = port
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_serving(self, timeout: float = 120.0, poll: float = 0.01) -> float:
        """Seconds from now until health says SERVING."""
        began = time.monotonic()
        with grpc.insecure_channel(self.target) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() - began < timeout:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
                try:
                    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                    if answer.status == health_pb2.HealthCheckResponse.SERVING:
                        return time.monotonic() - began
                except grpc.RpcError:
                    pass
                time.sleep(poll)
        raise RuntimeError(f"not SERVING after {timeout} s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(mode: str, workdir: Path, core: int | None) -> Server:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [*pin_prefix(core), *command(mode, f"127.0.0.1:{port}", workdir / "bench.db")]
    server = Server(argv, workdir / "server.log", port)
    server.wait_serving()
    return server
