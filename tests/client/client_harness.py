"""A real holdfast server in a subprocess on a loopback port, for the client tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import serverproc
from serverproc import ServerProcess as _ServerProcess
from serverproc import free_port, serve_command

__all__ = ["free_port"]  # re-exported for the tests here


class ServerProcess(_ServerProcess):
    """``python -m holdfast serve`` on 127.0.0.1:<port>, its log in a file."""

    def __init__(self, log_path: Path, port: int | None = None, *extra: str) -> None:
        super().__init__(log_path, port)
        self.extra = extra

    def start(self) -> None:
        command = serve_command("--listen", self.target, "--sweep-interval", "0.05", *self.extra)
        if "--database" not in self.extra and "--in-memory" not in self.extra:
            # State in a file beside the log, never in the working directory.
            command += ["--database", str(self.log_path.with_suffix(".db"))]
        self.launch(command)


def run_ctl(target: str, *args: str, tenant: str | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m holdfast ctl --target T [--tenant X] ARGS`` as a person would run it."""
    return serverproc.run_ctl(target, *args, tenant=tenant)
