"""A real holdfast server for the OperationsService tests, ctl run as a
person runs it, and a /metrics scrape parsed as Prometheus parses it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from serverproc import PYTHON, REPO, SERVICE, ServerProcess, free_port, serve_command

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


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
    command = [PYTHON, "-m", "holdfast", "ctl", "--target", target]
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


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def eventually(url: str, check: Callable[[Samples], bool], timeout: float = 30.0) -> Samples:
    """Scrape until ``check`` holds or the deadline passes (the caller asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
