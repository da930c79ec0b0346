"""Real processes for the dependency tests: a holdfast server on a temp
database, and the built-in fake feasibility check (``holdfast
fake-feasibility``) driven over its HTTP control endpoint."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from holdfast.client import RetryPolicy
from holdfast.client.operations import OperationsClient
from holdfast.v1 import operations_pb2 as ops_pb
from serverproc import PYTHON, START_TIMEOUT_S, ServerProcess, free_port, serve_command

T = TypeVar("T")
# How long a test waits for something to happen (a state to be reached).
WAIT_S = 30.0


class Server(ServerProcess):
    """``holdfast serve --database FILE`` with extra flags, restartable."""

    def __init__(self, database: Path, log_path: Path, *extra: str) -> None:
        super().__init__(log_path, 0)
        self.database = database
        self.extra = list(extra)

    def start(self) -> Server:
        self.port = free_port()
        self.launch(
            serve_command("--listen", self.target, "--database", str(self.database), *self.extra)
        )
        self.wait_serving()
        return self

    def client(self, tenant: str = "shop", actor: str = "tester") -> OperationsClient:
        """A client that never retries: each refusal is the test's to see."""
        return OperationsClient(
            self.target, tenant=tenant, actor=actor, timeout=20.0, retry=RetryPolicy.never()
        )


class FakeFeasibility(ServerProcess):
    """``holdfast fake-feasibility`` on a port it picks, and its controls."""

    def start(self) -> FakeFeasibility:
        self.launch([PYTHON, "-m", "holdfast", "fake-feasibility", "--listen", "127.0.0.1:0"])
        listening = until(
            lambda: next((r for r in self.log_records() if "port" in r), None), START_TIMEOUT_S
        )
        self.port = int(listening["port"])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/check"

    def control(self, **told: Any) -> dict[str, Any]:
        """POST /control; the fake's settings afterwards."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/control",
            data=json.dumps(told).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            settings: dict[str, Any] = json.load(answer)
        return settings


def until(probe: Callable[[], T | None], timeout: float = WAIT_S, every: float = 0.02) -> T:
    """Poll ``probe`` until it returns something other than None (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s")
        time.sleep(every)


def breaker_state(client: OperationsClient, name: str) -> str:
    for breaker in client.list_circuit_breakers().breakers:
        if breaker.name == name:
            return ops_pb.BreakerState.Name(breaker.state)
    raise AssertionError(f"no breaker {name}")
