"""A real holdfast server for the rule-set tests, rule-set texts to deploy,
and ctl run as a person runs it."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import serverproc
from holdfast.client import OperationsClient
from serverproc import SERVICE, ServerProcess, serve_command


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def rule_set(version: str, *, cap: int | None = None, comment_line: str = "") -> str:
    """A rule set's text: a ``marketplace`` channel cap of ``cap`` units, if given."""
    text = f'version = "{version}"\nauthor = "ana@shop"\ndescription = "tests"\n{comment_line}'
    if cap is not None:
        text += f'\n[[channel_caps]]\nchannel = "marketplace"\nmax_units = {cap}\n'
    return text


def operator(server: ServerProcess) -> OperationsClient:
    """An operator named ops-ana, in a tenant of their own."""
    return OperationsClient(server.target, tenant=unique("t"), actor="ops-ana")


class RulesServer(ServerProcess):
    """``holdfast serve`` on a database in ``directory`` (or in memory)."""

    def __init__(self, directory: Path, *extra: str) -> None:
        super().__init__(directory / "server.log", health_service=SERVICE)
        self.database = directory / "holdfast.db"
        self.extra = extra

    def start(self) -> RulesServer:
        state = [] if "--in-memory" in self.extra else ["--database", str(self.database)]
        self.launch(
            serve_command(
                "--listen", self.target, "--sweep-interval", "0.05", *state, *self.extra
            )
        )  # fmt: skip
        self.wait_serving()
        return self


def run_ctl(
    target: str, *args: str, actor: str | None = "ops-ana"
) -> subprocess.CompletedProcess[str]:
    """``python -m holdfast ctl --target T [--actor A] ARGS``."""
    return serverproc.run_ctl(target, *args, actor=actor)
