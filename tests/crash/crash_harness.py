"""A durable holdfast server in a subprocess that can be killed for real.

A tests/serverproc.py server that keeps its state in an
SQLite file (``--database``), can be SIGKILLed at any moment, and is started
again on the same file. Also the file-level checks a crash leaves to do:
``PRAGMA integrity_check`` on the database as the kill left it.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# tests/, for serverproc: scripts/crash_soak.py imports this module outside pytest.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serverproc import PYTHON, ServerProcess, serve_command

__all__ = ["PYTHON"]  # re-exported for the crash tests
START_TIMEOUT = 90.0  # generous: the machine is shared and replay takes a moment


class DurableServer(ServerProcess):
    """``python -m holdfast serve --database FILE`` on 127.0.0.1:<port>.

    Each start appends to one log file; ``log_since_start`` and
    ``log_records`` read what the latest start logged.
    """

    def __init__(
        self,
        database: Path,
        log_path: Path,
        *extra: str,
        port: int | None = None,
        prefix: Sequence[str] = (),
    ) -> None:
        super().__init__(log_path, port)
        self.database = database
        self.extra = extra
        # Put before the command (e.g. ``taskset -c 0``).
        self.prefix = tuple(prefix)

    def start(self) -> None:
        command = serve_command("--listen", self.target, "--database", str(self.database))
        self.launch([*self.prefix, *command, *self.extra])

    def wait_serving(self, timeout: float = START_TIMEOUT, poll: float = 0.02) -> float:
        return super().wait_serving(timeout, poll)


def integrity_check(database: Path, scratch: Path) -> str:
    """``PRAGMA integrity_check`` of the file as the kill left it (``"ok"`` when sound).

    Checked on a copy of the database and its ``-wal`` (in ``scratch``): opening
    the original would recover and checkpoint its WAL on close, and the
    restarted server must meet the file exactly as the crash left it.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / database.name
    for suffix in ("", "-wal"):
        source = Path(f"{database}{suffix}")
        target = Path(f"{copy}{suffix}")
        target.unlink(missing_ok=True)
        if source.exists():
            shutil.copyfile(source, target)
    Path(f"{copy}-shm").unlink(missing_ok=True)  # rebuilt from the WAL on open
    connection = sqlite3.connect(copy, timeout=30)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    finally:
        connection.close()
    return "\n".join(str(row[0]) for row in rows)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every complete JSON line of a file (a line cut short by a kill is skipped)."""
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out
