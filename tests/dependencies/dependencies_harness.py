"""Real processes for the dependency tests: a holdfast server on a temp
database, and the built-in fake feasibility check (``holdfast
fake-feasibility``) driven over its HTTP control endpoint."""

from __future__ import annotations

from pathlib import Path

from holdfast.client import RetryPolicy
from holdfast.client.operations import OperationsClient
from holdfast.v1 import operations_pb2 as ops_pb
from serverproc import ServerProcess, free_port, serve_command


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


def breaker_state(client: OperationsClient, name: str) -> str:
    for breaker in client.list_circuit_breakers().breakers:
        if breaker.name == name:
            return ops_pb.BreakerState.Name(breaker.state)
    raise AssertionError(f"no breaker {name}")
