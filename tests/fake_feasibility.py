"""``holdfast fake-feasibility`` as a real process on loopback, and its controls."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from polling import until
from serverproc import PYTHON, START_TIMEOUT_S, ServerProcess


class FakeFeasibility(ServerProcess):
    """The built-in fake feasibility check, on a port it picks."""

    def start(self) -> FakeFeasibility:
        self.launch([PYTHON, "-m", "holdfast", "fake-feasibility", "--listen", "127.0.0.1:0"])
        listening = until(
            lambda: next((r for r in self.log_records() if "port" in r), None),
            "the fake feasibility check to listen",
            START_TIMEOUT_S,
        )
        self.port = int(listening["port"])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/check"

    def control(self, **told: Any) -> dict[str, Any]:
        """POST /control (delay_ms, fail, infeasible_skus); the fake's settings afterwards."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/control",
            data=json.dumps(told).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            settings: dict[str, Any] = json.load(answer)
        return settings
