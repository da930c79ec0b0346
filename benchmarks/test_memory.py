"""Memory per open hold, measured in a fresh subprocess.

Reproduce:
    .venv/bin/python -m pytest benchmarks/test_memory.py --benchmark-only \
        --benchmark-group-by=group
or run the script itself:
    .venv/bin/python benchmarks/memory_per_hold.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from summary import Figure

SCRIPT = Path(__file__).resolve().parent / "memory_per_hold.py"


def _measure() -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.benchmark(group="memory per open hold")
def test_memory_per_hold(benchmark: Any, figures: Any) -> None:
    # Timed only because --benchmark-only runs nothing else; the time is that
    # of the whole subprocess (placing 1,000,000 holds plus start-up).
    result = benchmark.pedantic(_measure, rounds=1, iterations=1)
    benchmark.extra_info.update(result)
    figures(
        Figure(
            "memory per open hold",
            result["bytes_per_hold"],
            "B",
            target=300,
            higher_is_better=False,
            note=f"RSS {result['rss_before'] / 2**20:.0f} -> {result['rss_after'] / 2**20:.0f} MiB"
            f" for {result['holds']:,} holds",
        )
    )
