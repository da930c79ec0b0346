"""``python -m holdfast loadtest`` run for real, in its own process, against real
servers: exit codes, the table, the JSON figures and the PNG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from serverproc import REPO, ServerProcess

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def loadtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "holdfast", "loadtest", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_json(target: str, tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    out = tmp_path / "result.json"
    done = loadtest("--target", target, "--quiet", "--json", str(out), *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, json.loads(out.read_text())


def test_flash_sale_closed_loop_table_json_and_png(
    memory_server: ServerProcess, tmp_path: Path
) -> None:
    png = tmp_path / "run.png"
    table, result = run_json(
        memory_server.target,
        tmp_path,
        *("--duration", "0.6", "--warmup", "0.1", "--stock", "50", "--concurrency", "8"),
        *("--plot", str(png)),
    )
    print(table)
    assert png.read_bytes()[:8] == PNG_MAGIC
    for heading in ("CALLS/S", "P50 MS", "P90 MS", "P99 MS", "P99.9 MS", "checks: PASSED"):
        assert heading in table
    assert result["settings"]["scenario"] == "flash-sale"
    assert result["settings"]["mode"] == "closed"
    assert result["settings"]["concurrency"] == 8
    assert result["machine"]["cpu_count"] >= 1
    assert result["calls"] > 0
    assert result["calls_per_s"] > 0
    assert set(result["latency_ms"]) >= {"p50", "p90", "p99", "p99.9", "max"}
    assert result["series"]
    assert {"second", "calls", "p50_ms", "p99_ms", "p99.9_ms"} <= set(result["series"][0])
    checks = result["checks"]
    assert checks["passed"] is True
    assert checks["oversold"] == []
    # One hot SKU of 50 units: sold out within the warm-up or the run, never beyond.
    assert checks["accepted"]["checked"] is True
    assert checks["accepted"]["units"] <= 50
    assert checks["replays"]["sent"] > 0
    assert checks["replays"]["mismatches"] == 0
    if result["outcomes"]["refused"]:
        assert set(result["outcomes"]["refused"]) == {"INSUFFICIENT_STOCK"}
        assert "INSUFFICIENT_STOCK" in table
    assert result["errors"] == 0


def test_checkout_batches_open_loop_on_sqlite(
    database_server: ServerProcess, tmp_path: Path
) -> None:
    table, result = run_json(
        database_server.target,
        tmp_path,
        *("--scenario", "checkout", "--batch", "20", "--rate", "50", "--count", "40"),
        *("--warmup", "0", "--skus", "5"),
    )
    print(table)
    assert result["settings"]["mode"] == "open"
    assert result["calls"] == 40
    assert result["operations"] == 40 * 20
    ok = result["outcomes"]["ok"]
    assert ok["RESERVED"] > 0
    assert ok.get("ALLOCATED", 0) > 0
    assert result["checks"]["passed"] is True


@pytest.mark.parametrize("scenario", ["cart-churn", "mixed", "warehouse-feed"])
def test_other_scenarios_pass_their_checks(
    memory_server: ServerProcess, tmp_path: Path, scenario: str
) -> None:
    _, result = run_json(
        memory_server.target,
        tmp_path,
        *("--scenario", scenario, "--count", "200", "--warmup", "0", "--skus", "10"),
        # Two targets naming the same server: calls spread over both.
        *("--target", memory_server.target),
    )
    assert result["calls"] == 200
    assert result["errors"] == 0
    assert result["checks"]["passed"] is True
    assert len(result["settings"]["targets"]) == 2


@pytest.mark.parametrize(
    "args",
    [
        [],  # no --target
        ["--target", "nohost"],
        ["--target", "127.0.0.1:1", "--scenario", "nope"],
        ["--target", "127.0.0.1:1", "--concurrency", "0"],
        ["--target", "127.0.0.1:1", "--concurrency", "4", "--rate", "10"],
        ["--target", "127.0.0.1:1", "--duration", "1", "--count", "5"],
        ["--target", "127.0.0.1:1", "--no-setup"],
    ],
)
def test_bad_arguments_exit_2(args: list[str]) -> None:
    assert loadtest(*args).returncode == 2


def test_missing_stock_with_no_setup_exits_1(memory_server: ServerProcess) -> None:
    done = loadtest(
        *("--target", memory_server.target, "--no-setup", "--sku-prefix", "LT-NEVER-STOCKED"),
        *("--count", "5", "--quiet"),
    )
    assert done.returncode == 1
    assert "no stock position" in done.stderr
