"""A real server with its /metrics endpoint on a free loopback port, and a
scrape that parses the exposition text as Prometheus would."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from serverproc import SERVICE, ServerProcess, free_port, serve_command


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class MetricsServer(ServerProcess):
    """``python -m holdfast serve`` on a temp database, metrics on ``metrics_port``."""

    def __init__(self, directory: Path, *extra: str, metrics: bool = True) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.metrics_port = free_port()
        self.metrics_listen = f"127.0.0.1:{self.metrics_port}" if metrics else ""
        self.extra = extra

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> MetricsServer:
        self.launch(
            serve_command(
                "--listen", self.target, "--database", str(self.database),
                "--sweep-interval", "0.05", "--metrics-listen", self.metrics_listen,
                *self.extra,
            )
        )  # fmt: skip
        self.wait_serving()
        return self

    def record(self, message_start: str, timeout: float = 30.0) -> dict[str, Any]:
        """The first log record starting so, waiting for it: the start-up line
        is written just after the server reports SERVING."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.log_records():
                if str(record.get("msg", "")).startswith(message_start):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no log record {message_start!r}:\n{self.log_text()}")
            time.sleep(0.05)
