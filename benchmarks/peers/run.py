"""The peers side by side: holdfast and what one would otherwise build, one run.

    .venv/bin/python benchmarks/peers/run.py [--rounds 3] [--concurrency 64]
        [--duration 8] [--warmup 2] [--workloads many-skus,flash-sale]
        [--targets noop,model,redis-lua,sqlite,holdfast-memory,holdfast-sqlite,holdfast-redis]
        [--driver auto|loadtest|temporary] [--json FILE]

Every target is a gRPC server of ``holdfast.v1.InventoryService`` (SetStock,
Reserve, GetAvailability, the same generated messages), started fresh for
each measurement in a temp directory, pinned with ``taskset -c 0`` (with its
redis-server, when it has one); the load generator runs in its own process
pinned with ``taskset -c 1``. Targets:

- ``noop``: the transport ceiling (noop_server.py);
- ``model``: the pure-Python model tests/model.py behind the same server, in
  memory (model_server.py);
- ``redis-lua``: a reserve Lua script via EVALSHA from redis-py asyncio,
  pipelined, on a redis-server with ``appendfsync always``
  (redis_lua_server.py);
- ``sqlite``: one SQLite commit per request, WAL, synchronous=FULL
  (sqlite_server.py);
- ``holdfast-memory``: ``holdfast serve --in-memory``;
- ``holdfast-sqlite``: ``holdfast serve --database FILE`` (synchronous=FULL);
- ``holdfast-redis``: ``holdfast serve --redis-url`` (one replica, on a
  redis-server with ``appendfsync always``).

Workloads (Reserve of one unit, a unique idempotency key, the default hold,
``--concurrency`` callers in a closed loop): ``many-skus`` spreads the calls
over 1,000 SKUs stocked with 10^12 units; ``flash-sale`` sends every call to
one hot SKU stocked with 10^9 units (so it never sells out while measured).

The load generator is ``python -m holdfast loadtest`` when it exists
(``--driver auto``), else driver.py here. The rounds are interleaved (every
target once per round). Prints one table per workload (each round, then
the median per target with ratios) and writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))

from redisproc import RedisServer  # noqa: E402
from serverproc import PYTHON, ServerProcess, free_port  # noqa: E402

TARGETS = (
    "noop", "model", "redis-lua", "sqlite",
    "holdfast-memory", "holdfast-sqlite", "holdfast-redis",
)  # fmt: skip
WORKLOADS = {
    # name: (SKUs, stock per SKU); both are the loadtest's flash-sale scenario
    # (each call reserves one unit of a SKU picked at random among --skus)
    "many-skus": (1000, 10**12),
    "flash-sale": (1, 10**9),
}
# Which holdfast each peer is compared with: the same durability.
MATCHED = {
    "noop": "holdfast-memory",
    "model": "holdfast-memory",
    "redis-lua": "holdfast-sqlite",
    "sqlite": "holdfast-sqlite",
}
DESCRIBE = {
    "noop": "no-op grpc.aio handler (ceiling)",
    "model": "pure-Python model (tests/model.py), in memory",
    "redis-lua": "Redis + Lua EVALSHA, appendfsync always",
    "sqlite": "SQLite, one commit per request (FULL)",
    "holdfast-memory": "holdfast --in-memory",
    "holdfast-sqlite": "holdfast --database (SQLite FULL)",
    "holdfast-redis": "holdfast --redis-url, 1 replica (always)",
}
SERVER_CORE, LOAD_CORE = 0, 1


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") else []


class PinnedRedis(RedisServer):
    """tests/redisproc's redis-server (appendfsync always, no RDB), pinned."""

    def command(self) -> list[str]:
        return [*pin(SERVER_CORE), *super().command()]


class Server(ServerProcess):
    def __init__(self, argv: list[str], log_path: Path, port: int) -> None:
        super().__init__(log_path, port)
        self.launch(argv)

    def stop(self, timeout: float = 60.0) -> int:
        try:
            return super().stop(timeout)
        except AssertionError:  # hung: killed; the figures still count
            return self.wait()


def server_argv(target: str, listen: str, workdir: Path, redis_url: str) -> list[str]:
    peer = [PYTHON, "-u"]
    holdfast = [PYTHON, "-m", "holdfast", "serve", "--listen", listen, "--metrics-listen", ""]
    argv = {
        "noop": [*peer, str(HERE / "noop_server.py"), "--listen", listen],
        "model": [*peer, str(HERE / "model_server.py"), "--listen", listen],
        "redis-lua": [
            *peer, str(HERE / "redis_lua_server.py"), "--listen", listen,
            "--redis-url", redis_url,
        ],
        "sqlite": [
            *peer, str(HERE / "sqlite_server.py"), "--listen", listen,
            "--database", str(workdir / "peer.db"),
        ],
        "holdfast-memory": [*holdfast, "--in-memory"],
        "holdfast-sqlite": [*holdfast, "--database", str(workdir / "holdfast.db")],
        "holdfast-redis": [
            *holdfast, "--redis-url", redis_url, "--redis-prefix", "bench", "--node-id", "1",
        ],
    }[target]  # fmt: skip
    return [*pin(SERVER_CORE), *argv]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU seconds of each role's processes, sampled every 0.1 s with the wall time."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self.samples: list[tuple[float, dict[str, float]]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> None:
        reading = {}
        for role, pids in self.roles.items():
            try:
                reading[role] = sum(cpu_seconds(pid) for pid in pids)
            except (FileNotFoundError, ProcessLookupError):
                return
        self.samples.append((time.time(), reading))

    def run(self) -> None:
        while not self.done.wait(0.1):
            self.sample()

    def share(self, start: float, end: float) -> dict[str, float]:
        """Share of one core each role used between two wall times."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {}
        (t0, a), (t1, b) = inside[0], inside[-1]
        return {role: (b[role] - a[role]) / (t1 - t0) for role in a if role in b}


@dataclass
class Result:
    target: str
    workload: str
    round: int
    driver: str
    calls_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    holds: int
    refused_for_stock: int
    checks_passed: bool
    cpu_share: dict[str, float] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def loadtest_available() -> bool:
    probe = subprocess.run(
        [PYTHON, "-m", "holdfast", "loadtest", "--help"], capture_output=True, check=False
    )
    return probe.returncode == 0


def driver_argv(
    driver: str, target: str, workload: str, options: argparse.Namespace, out: Path
) -> list[str]:
    skus, stock = WORKLOADS[workload]
    common = [
        "--target", target, "--concurrency", str(options.concurrency),
        "--duration", str(options.duration), "--warmup", str(options.warmup),
        "--skus", str(skus), "--stock", str(stock), "--json", str(out),
    ]  # fmt: skip
    if driver == "loadtest":
        return [
            PYTHON,
            "-m",
            "holdfast",
            "loadtest",
            "--scenario",
            "flash-sale",
            *common,
            "--quiet",
        ]
    scenario = "flash-sale" if skus == 1 else "many-skus"
    return [PYTHON, str(HERE / "driver.py"), "--scenario", scenario, *common]


def read_loadtest(raw: dict[str, Any]) -> dict[str, Any]:
    """The figures run.py reports, from either generator's JSON."""
    if "calls_per_second" in raw:  # driver.py
        return raw
    if raw.get("tool") != "holdfast loadtest":
        raise ValueError(f"unknown result format: {sorted(raw)[:20]}")
    ok, refused = raw["outcomes"].get("ok", {}), raw["outcomes"].get("refused", {})
    for_stock = refused.get("INSUFFICIENT_STOCK", 0)
    # The loadtest writes no wall times for its window; it ends at most a
    # moment before finished_at (the end checks run in between), so CPU is
    # read over the window's middle: inset from both ends.
    measured = raw["measured_seconds"]
    end = datetime.fromisoformat(raw["finished_at"]).timestamp()
    inset = min(1.0, 0.15 * measured)
    return {
        "calls_per_second": raw["calls_per_s"],
        "p50_ms": raw["latency_ms"]["p50"],
        "p99_ms": raw["latency_ms"]["p99"],
        "errors": raw["errors"] + raw["refused"] - for_stock,
        "holds": sum(ok.values()),
        "refused_for_stock": for_stock,
        "window": [end - measured + inset, end - inset],
        "checks_passed": raw["checks"]["passed"],
        "loadtest": {k: v for k, v in raw.items() if k != "series"},
    }


def measure(
    target: str, workload: str, round_: int, driver: str, workdir: Path, options: argparse.Namespace
) -> Result:
    workdir.mkdir(parents=True)
    redis: PinnedRedis | None = None
    server: Server | None = None
    try:
        redis_url = ""
        if target in ("redis-lua", "holdfast-redis"):
            redis = PinnedRedis(workdir / "redis").start()
            redis_url = redis.url
        port = free_port()
        argv = server_argv(target, f"127.0.0.1:{port}", workdir, redis_url)
        server = Server(argv, workdir / "server.log", port)
        server.wait_serving()
        out = workdir / "result.json"
        roles = {"server": [server.pid]}
        if redis is not None and redis.process is not None:
            roles["redis"] = [redis.process.pid]
        load = subprocess.Popen(
            [*pin(LOAD_CORE), *driver_argv(driver, server.target, workload, options, out)],
            stdout=(workdir / "load.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        sampler = CpuSampler({**roles, "load": [load.pid]})
        sampler.thread.start()
        code = load.wait()
        sampler.done.set()
        sampler.thread.join()
        if not out.exists():
            raise RuntimeError(f"{target}: no result; {(workdir / 'load.log').read_text()[-2000:]}")
        figures = read_loadtest(json.loads(out.read_text()))
        start, end = figures["window"]
        return Result(
            target=target,
            workload=workload,
            round=round_,
            driver=driver,
            calls_per_second=figures["calls_per_second"],
            p50_ms=figures["p50_ms"],
            p99_ms=figures["p99_ms"],
            errors=figures["errors"],
            holds=figures["holds"],
            refused_for_stock=figures["refused_for_stock"],
            checks_passed=code == 0,
            cpu_share=sampler.share(start, end),
            raw=figures,
        )
    finally:
        if server is not None:
            server.stop()
        if redis is not None:
            redis.stop()


def median_of(results: Sequence[Result], target: str, workload: str) -> float | None:
    rates = [r.calls_per_second for r in results if r.target == target and r.workload == workload]
    return statistics.median(rates) if rates else None


def cpu_text(r: Result) -> str:
    parts = [
        f"{100 * r.cpu_share[role]:.0f}" for role in ("server", "redis") if role in r.cpu_share
    ]
    server = "+".join(parts) if parts else "-"
    load = f"{100 * r.cpu_share['load']:.0f}" if "load" in r.cpu_share else "-"
    return f"{server} / {load}"


def checks_text(r: Result) -> str:
    """The load generator's end checks; meaningless against the no-op, which decides nothing."""
    if r.target == "noop":
        return "n/a"
    return "pass" if r.checks_passed else "FAIL"


def tables(results: Sequence[Result], targets: Sequence[str], workload: str) -> list[str]:
    rows = [r for r in results if r.workload == workload]
    lines = [
        f"#### {workload}: every round",
        "",
        "| target | round | calls/s | p50 ms | p99 ms | errors | checks | CPU % server / load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for r in sorted(rows, key=lambda r: (targets.index(r.target), r.round)):
        lines.append(
            f"| {r.target} | {r.round} | {r.calls_per_second:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} | {checks_text(r)} | "
            f"{cpu_text(r)} |"
        )
    noop = median_of(results, "noop", workload)
    lines += [
        "",
        f"#### {workload}: median of the rounds",
        "",
        "| target | what | calls/s | p50 ms | p99 ms | / no-op | holdfast (same durability) / it |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for target in targets:
        mine = [r for r in rows if r.target == target]
        if not mine:
            continue
        rate = median_of(results, target, workload)
        assert rate is not None
        p50 = statistics.median(r.p50_ms for r in mine)
        p99 = statistics.median(r.p99_ms for r in mine)
        vs_noop = f"{rate / noop:.2f}" if noop else "-"
        matched = MATCHED.get(target)
        theirs = median_of(results, matched, workload) if matched else None
        vs_holdfast = f"{theirs / rate:.2f}x ({matched})" if theirs else "-"
        lines.append(
            f"| {target} | {DESCRIBE[target]} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | "
            f"{vs_noop} | {vs_holdfast} |"
        )
    return lines


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pinned = "servers on core 0, load generator on core 1 (taskset)"
    if not shutil.which("taskset"):
        pinned = "taskset not found: nothing pinned"
    return f"{os.cpu_count()} cores, load average {load}; {pinned}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--driver", choices=("auto", "loadtest", "temporary"), default="auto")
    parser.add_argument("--json", type=Path, default=Path("peers-results.json"))
    options = parser.parse_args(argv)
    targets = options.targets.split(",")
    workloads = options.workloads.split(",")
    if set(targets) - set(TARGETS) or set(workloads) - set(WORKLOADS):
        parser.error("unknown target or workload")
    driver = options.driver
    if driver == "auto":
        driver = "loadtest" if loadtest_available() else "temporary"
    print(f"machine: {machine()}", flush=True)
    print(f"load generator: {driver}; {options.concurrency} closed-loop callers, "
          f"{options.warmup:g} s warm-up, {options.duration:g} s measured", flush=True)  # fmt: skip
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-peers-") as tmp:
        for round_ in range(1, options.rounds + 1):
            for workload in workloads:
                for target in targets:
                    workdir = Path(tmp) / f"{workload}-{target}-{round_}"
                    r = measure(target, workload, round_, driver, workdir, options)
                    results.append(r)
                    print(
                        f"round {round_} {workload:>10} {target:>16}: "
                        f"{r.calls_per_second:9,.0f}/s p50 {r.p50_ms:7.2f} ms "
                        f"p99 {r.p99_ms:7.2f} ms errors {r.errors} "
                        f"checks {checks_text(r)} "
                        f"CPU% {cpu_text(r)}",
                        flush=True,
                    )
    print()
    for workload in workloads:
        for line in tables(results, targets, workload):
            print(line)
        print()
    print(f"after the run: {machine()}")
    options.json.write_text(
        json.dumps(
            {
                "command": " ".join(sys.argv),
                "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                "machine": machine(),
                "driver": driver,
                "results": [asdict(r) for r in results],
            },
            indent=2,
        )
    )
    print(f"figures written to {options.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
