"""A real server with its /metrics endpoint on a free loopback port, and a
scrape that parses the exposition text as Prometheus would."""

from __future__ import annotations

import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from serverproc import SERVICE, ServerProcess, free_port, serve_command

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


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


def fetch(url: str, timeout: float = 10.0) -> tuple[int, str, str]:
    """(status, content type, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = response.read().decode()
            return response.status, response.headers["Content-Type"], body
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def scrape(url: str) -> Samples:
    """Every sample of a scrape, keyed by name and labels, parsed by prometheus_client."""
    status, content_type, text = fetch(url)
    assert status == 200, text
    assert content_type.startswith("text/plain"), content_type
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def eventually(url: str, check: Callable[[Samples], bool], timeout: float = 30.0) -> Samples:
    """Scrape until ``check`` holds: a call's counters move just as it answers."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(url)
        if check(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)
