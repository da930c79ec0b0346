"""Benchmark plumbing: import paths, fixtures, and the "holdfast figures"
summary (see summary.py) printed at the end of the run.

Run everything with `make bench`, i.e.
    .venv/bin/python -m pytest benchmarks --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
# workload.py and summary.py live next to this file; the model is tests/model.py.
for path in (BENCHMARKS, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import summary  # noqa: E402


@pytest.fixture
def figures() -> Any:
    """Record a summary.Figure for the end-of-run summary."""
    return summary.record


@pytest.fixture
def ops_rate() -> Any:
    """ops_rate(benchmark, ops_per_round) -> operations per second (median, best)."""
    return summary.ops_per_second


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = summary.lines()
    if lines:
        terminalreporter.section("holdfast figures")
        for line in lines:
            terminalreporter.write_line(line)
