"""Breaker settings the core refuses stop the server at start-up, naming them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from serverproc import REPO, free_port, serve_command


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ("nosuch.wait_in_open_ms=1", "unknown breaker nosuch"),
        ("journal.sliding_window_size=0", "breakers.journal: invalid sliding_window_size"),
        ("journal.wait_in_open=5", "expected NAME.SETTING=INTEGER"),
    ],
)
def test_bad_breaker_settings_are_refused_naming_them(
    tmp_path: Path, setting: str, named: str
) -> None:
    command = serve_command(
        "--listen", f"127.0.0.1:{free_port()}", "--database", str(tmp_path / "holdfast.db"),
        "--breakers", setting,
    )  # fmt: skip
    env = {**os.environ, "HOLDFAST_METRICS_LISTEN": ""}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert named in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "holdfast.db").exists()  # refused before anything was opened
