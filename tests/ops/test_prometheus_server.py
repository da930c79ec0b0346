"""A real Prometheus server (Debian's ``prometheus`` binary) scrapes a live
holdfast every second on loopback, loads deploy/'s alert rules, and answers
a business metric back through its HTTP API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ops_support import LiveHoldfast, scrape_text
from prometheus_client.parser import text_string_to_metric_families
from serverproc import free_port
from sre_kit import RULES

RESERVED = 'holdfast_decisions_total{action="reserve",outcome="accepted",reason="RESERVED"}'
DEADLINE_S = 60.0  # Prometheus starts, scrapes every second, answers: seconds, not minutes


class Prometheus:
    def __init__(self, directory: Path, scrape_target: str) -> None:
        self.port = free_port()
        self.log_path = directory / "prometheus.log"
        self.config = directory / "prometheus.yml"
        # The scrape config's own shape (deploy/prometheus/prometheus.yml,
        # checked by promtool), with a 1 s interval and this test's target.
        self.config.write_text(
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            f"rule_files:\n  - {json.dumps(str(RULES))}\n"
            "scrape_configs:\n"
            "  - job_name: holdfast\n"
            "    scrape_timeout: 1s\n"
            "    static_configs:\n"
            f"      - targets: [{json.dumps(scrape_target)}]\n"
        )
        self.storage = directory / "tsdb"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, binary: str) -> Prometheus:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={self.config}",
                    f"--storage.tsdb.path={self.storage}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/PATH; its ``data``. Raises OSError while it is not up."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"prometheus exited:\n{self.log_path.read_text()}")
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            answer = json.loads(response.read())
        assert answer["status"] == "success", answer
        return answer["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        return data["result"]  # type: ignore[no-any-return]

    def eventually(self, expr: str, want: float) -> float | None:
        """Poll the instant query until its one sample equals ``want``; the last value seen."""
        deadline = time.monotonic() + DEADLINE_S
        seen: float | None = None
        while time.monotonic() < deadline:
            try:
                result = self.query(expr)
            except OSError:
                result = []  # not listening yet
            if result:
                seen = float(result[0]["value"][1])
                if seen == want:
                    return seen
            time.sleep(0.2)
        return seen


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the real Prometheus test: apt-get install -y prometheus")
        pytest.skip("no prometheus binary (Debian's prometheus package; make test installs it)")
    return binary


@pytest.fixture(scope="module")
def prometheus(
    live: LiveHoldfast, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    directory = tmp_path_factory.mktemp("prometheus")
    server = Prometheus(directory, f"127.0.0.1:{live.metrics_port}").start(prometheus_binary())
    try:
        yield server
    finally:
        server.stop()


def scraped_value(live: LiveHoldfast, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(scrape_text(live.metrics_url)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise AssertionError(f"{name}{labels} not in the scrape")


def test_a_business_metric_reads_back_through_prometheus(
    live: LiveHoldfast, prometheus: Prometheus
) -> None:
    labels = {"action": "reserve", "outcome": "accepted", "reason": "RESERVED"}
    expected = scraped_value(live, "holdfast_decisions_total", **labels)
    assert expected >= 1  # the traffic the live server was given
    assert prometheus.eventually(f"sum({RESERVED})", expected) == expected
    units = scraped_value(live, "holdfast_reserved_units_total")
    assert prometheus.eventually("sum(holdfast_reserved_units_total)", units) == units
    assert prometheus.eventually('up{job="holdfast"}', 1) == 1


def test_prometheus_loads_the_alert_rules(prometheus: Prometheus) -> None:
    # Rules are loaded with the config; evaluated every second against the
    # live holdfast, each must evaluate without error.
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            groups = prometheus.api("rules")["groups"]
        except OSError:
            groups = []
        rules = [rule for group in groups for rule in group["rules"]]
        # Never evaluated yet: Go's zero time.
        evaluated = rules and not any(rule["lastEvaluation"].startswith("0001") for rule in rules)
        if evaluated or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert rules, "no rules loaded"
    assert all(rule["health"] == "ok" for rule in rules), [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]
