"""Starting the servers the durability benchmarks measure, each in its own process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
# tests/, for serverproc: these benchmarks run as scripts, outside pytest.
sys.path.insert(0, str(REPO / "tests"))

from serverproc import PYTHON, ServerProcess, free_port  # noqa: E402

__all__ = ["PYTHON", "free_port"]  # used by the benchmark scripts


def pin_prefix(core: int | None) -> list[str]:
    """``taskset -c CORE`` when asked for and available."""
    if core is None or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core)]


def command(mode: str, listen: str, database: Path) -> list[str]:
    """The command line of a server of this mode."""
    if mode == "in-memory":
        return [PYTHON, "-m", "holdfast", "serve", "--listen", listen, "--in-memory"]
    if mode in ("durable", "durable-normal"):
        sync = "FULL" if mode == "durable" else "NORMAL"
        return [
            PYTHON, "-m", "holdfast", "serve", "--listen", listen,
            "--database", str(database), "--synchronous", sync,
        ]  # fmt: skip
    if mode == "naive":
        return [
            PYTHON, str(HERE / "naive_server.py"), "--listen", listen,
            "--database", str(database),
        ]  # fmt: skip
    raise ValueError(f"unknown mode {mode}")


class Server(ServerProcess):
    """A launched server (any argv that listens on 127.0.0.1:port), its output in log_path."""

    def __init__(self, argv: list[str], log_path: Path, port: int) -> None:
        super().__init__(log_path, port)
        self.launch(argv)

    def wait_serving(self, timeout: float = 120.0, poll: float = 0.01) -> float:
        """Seconds from now until health says SERVING."""
        return super().wait_serving(timeout, poll)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM; a server that hangs is killed, and the figures still get written."""
        try:
            return super().stop(timeout)
        except AssertionError:
            return self.wait()  # the exit code of the kill


def start(mode: str, workdir: Path, core: int | None) -> Server:
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [*pin_prefix(core), *command(mode, f"127.0.0.1:{port}", workdir / "bench.db")]
    server = Server(argv, workdir / "server.log", port)
    server.wait_serving()
    return server
