"""A real holdfast server for the OperationsService tests, ctl run as a
person runs it, and a /metrics scrape parsed as Prometheus parses it."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import serverproc
from serverproc import SERVICE, ServerProcess, free_port, serve_command


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class OpsServer(ServerProcess):
    """``holdfast serve`` on a database in ``directory`` (or in memory), with
    /metrics on a free port when ``metrics`` is asked for."""

    def __init__(self, directory: Path, *extra: str, metrics: bool = False) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.metrics_port = free_port() if metrics else 0
        self.extra = extra

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> OpsServer:
        state = [] if "--in-memory" in self.extra else ["--database", str(self.database)]
        metrics = f"127.0.0.1:{self.metrics_port}" if self.metrics_port else ""
        self.launch(
            serve_command(
                "--listen", self.target, "--sweep-interval", "0.05",
                "--metrics-listen", metrics, *state, *self.extra,
            )
        )  # fmt: skip
        self.wait_serving()
        return self


def run_ctl(
    target: str, *args: str, actor: str | None = "ops-alice"
) -> subprocess.CompletedProcess[str]:
    """``python -m holdfast ctl --target T [--actor A] ARGS``."""
    return serverproc.run_ctl(target, *args, actor=actor)
