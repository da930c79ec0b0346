"""Reserve over gRPC: the SQLite backend against one and two replicas on Redis.

    .venv/bin/python benchmarks/redis/compare.py [--concurrency 64] [--seconds 12]
        [--warmup 3] [--skus 256] [--rounds 1] [--json PATH]

One run on this machine measures, with the same workload and the same
client concurrency:

- ``sqlite``: one ``holdfast serve --database TMPFILE`` (synchronous=FULL,
  the default);
- ``redis-1``: one replica, ``--redis-url`` on a redis-server this script
  starts (``--appendonly yes --appendfsync always``, no RDB: every commit is
  fsynced before Redis answers, as SQLite's FULL fsyncs every commit);
- ``redis-2``: two replicas on the same Redis and prefix, the callers split
  evenly across them.

Each measurement gets a fresh server (a fresh database file, or a fresh
redis-server in its own temp directory on a free port). This process is the
load generator: ``--concurrency`` callers in a closed loop, each sending
Reserve after Reserve (one unit of one of ``--skus`` SKUs stocked with
10^12, unique idempotency key, default hold) over 4 HTTP/2 connections
(raw ``grpc.aio`` stubs, spread over the replicas), ``--warmup`` seconds
not recorded, then ``--seconds`` recorded. An error is a failed RPC or a
Reserve whose decision is not a hold. ``--rounds N`` repeats the three
measurements N times, interleaved (sqlite, redis-1, redis-2, sqlite, ...).

Nothing is pinned: on a 2-core machine the load generator, redis-server and
the holdfast processes share the two cores, so the figures say how the
backends compare here, not what each would do on machines of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import holdfast
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "durability"))

import servers  # noqa: E402  (also puts tests/ on the path)
from redisproc import RedisServer  # noqa: E402
from reserve_load import LOCATION, percentile, stock  # noqa: E402

CHANNELS = 4  # HTTP/2 connections in all, spread over the targets
MODES = ("sqlite", "redis-1", "redis-2")


@dataclass
class Result:
    mode: str
    round: int
    concurrency: int
    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    per_target: list[int]
    error_kinds: dict[str, int]
    # CPU seconds used during the measured window, per role: holdfast (all
    # its processes), redis-server, this load generator.
    cpu_s: dict[str, float]


def sku_names(count: int) -> list[str]:
    return [f"BENCH-{n:04d}" for n in range(count)]


async def measure(
    targets: Sequence[str],
    mode: str,
    round_: int,
    concurrency: int,
    skus: Sequence[str],
    seconds: float,
    warmup: float,
    pids: dict[str, list[int]],
) -> Result:
    channels = [grpc.aio.insecure_channel(targets[i % len(targets)]) for i in range(CHANNELS)]
    stubs = [inventory_pb2_grpc.InventoryServiceStub(c) for c in channels]
    await stock(stubs[0], skus)
    prefix = uuid.uuid4().hex[:12]
    counter = itertools.count()
    latencies: list[float] = []
    per_target = [0] * len(targets)
    errors = 0
    kinds: collections.Counter[str] = collections.Counter()
    phase = {"recording": False, "stop": False}

    async def caller(worker: int) -> None:
        nonlocal errors
        channel = worker % CHANNELS
        stub = stubs[channel]
        target = channel % len(targets)
        sku = itertools.cycle(skus[worker % len(skus) :: concurrency] or skus)
        while not phase["stop"]:
            n = next(counter)
            request = pb.ReserveRequest(
                idempotency_key=f"{prefix}-{n}",
                order_ref=f"order-{n}",
                lines=[pb.LineRequest(sku=next(sku), location=LOCATION, quantity=1)],
            )
            began = time.perf_counter()
            try:
                response = await stub.Reserve(request, timeout=60)
            except grpc.RpcError as error:
                if phase["recording"]:
                    errors += 1
                    kinds[rpc_error_kind(error)] += 1
                continue
            if not phase["recording"]:
                continue
            if response.decision.reason != reasons_pb2.RESERVED:
                errors += 1
                kinds[reasons_pb2.ReasonCode.Name(response.decision.reason)] += 1
                continue
            latencies.append(time.perf_counter() - began)
            per_target[target] += 1

    tasks = [asyncio.create_task(caller(w)) for w in range(concurrency)]
    await asyncio.sleep(warmup)
    phase["recording"] = True
    cpu_before = cpu_by_role(pids)
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    phase["recording"] = False
    elapsed = time.perf_counter() - began
    cpu_after = cpu_by_role(pids)
    done = len(latencies)
    phase["stop"] = True
    await asyncio.gather(*tasks)
    for c in channels:
        await c.close()
    latencies.sort()
    return Result(
        mode=mode,
        round=round_,
        concurrency=concurrency,
        requests=done,
        errors=errors,
        seconds=elapsed,
        per_second=done / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        per_target=per_target,
        error_kinds=dict(kinds),
        cpu_s={role: cpu_after[role] - cpu_before[role] for role in cpu_before},
    )


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_by_role(pids: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(process_cpu_s(pid) for pid in group) for role, group in pids.items()}


def rpc_error_kind(error: grpc.RpcError) -> str:
    """The status code and the first words of the details."""
    code = error.code() if isinstance(error, grpc.aio.AioRpcError) else None
    details = (error.details() if isinstance(error, grpc.aio.AioRpcError) else str(error)) or ""
    name = code.name if code is not None else "UNKNOWN"
    return re.sub(r"\d+", "N", f"{name}: {details[:100]}")


def replica_command(listen: str, redis_url: str, prefix: str, node_id: int) -> list[str]:
    return [
        servers.PYTHON, "-m", "holdfast", "serve", "--listen", listen,
        "--redis-url", redis_url, "--redis-prefix", prefix,
        "--node-id", str(node_id), "--metrics-listen", "",
    ]  # fmt: skip


def sqlite_command(listen: str, database: Path) -> list[str]:
    return [
        servers.PYTHON, "-m", "holdfast", "serve", "--listen", listen,
        "--database", str(database), "--metrics-listen", "",
    ]  # fmt: skip


def run_one(mode: str, round_: int, workdir: Path, options: argparse.Namespace) -> Result:
    """Start what ``mode`` needs, measure, stop it all."""
    workdir.mkdir(parents=True)
    skus = sku_names(options.skus)
    started: list[servers.Server] = []
    redis: RedisServer | None = None
    try:
        if mode == "sqlite":
            port = servers.free_port()
            argv = sqlite_command(f"127.0.0.1:{port}", workdir / "bench.db")
            started.append(servers.Server(argv, workdir / "server.log", port))
        else:
            redis = RedisServer(workdir / "redis").start()
            for node in range(1 if mode == "redis-1" else 2):
                port = servers.free_port()
                argv = replica_command(f"127.0.0.1:{port}", redis.url, "bench", node + 1)
                started.append(servers.Server(argv, workdir / f"replica-{node + 1}.log", port))
        for server in started:
            server.wait_serving()
        targets = [server.target for server in started]
        pids = {"holdfast": [server.pid for server in started], "load": [os.getpid()]}
        if redis is not None and redis.process is not None:
            pids["redis"] = [redis.process.pid]
        return asyncio.run(
            measure(
                targets,
                mode,
                round_,
                options.concurrency,
                skus,
                options.seconds,
                options.warmup,
                pids,
            )
        )
    finally:
        for server in started:
            server.stop()
        if redis is not None:
            redis.stop()


def table(results: Sequence[Result]) -> list[str]:
    lines = [
        "| backend | round | clients | Reserve/s | p50 ms | p99 ms | errors | calls per replica "
        "| CPU ms per Reserve: holdfast / redis / load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        cpu = " / ".join(
            f"{1000 * r.cpu_s[role] / r.requests:.2f}" if role in r.cpu_s and r.requests else "-"
            for role in ("holdfast", "redis", "load")
        )
        lines.append(
            f"| {describe(r.mode)} | {r.round} | {r.concurrency} | {r.per_second:,.0f} | "
            f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} | "
            f"{' / '.join(f'{n:,}' for n in r.per_target)} | {cpu} |"
        )
    return lines


def describe(mode: str) -> str:
    return {
        "sqlite": "SQLite (FULL), 1 process",
        "redis-1": "Redis (appendfsync always), 1 replica",
        "redis-2": "Redis (appendfsync always), 2 replicas",
    }[mode]


def ratios(results: Sequence[Result]) -> list[str]:
    """Ratios of the mean throughput per mode (over the rounds)."""
    mean = {
        mode: statistics.fmean(r.per_second for r in results if r.mode == mode)
        for mode in MODES
        if any(r.mode == mode for r in results)
    }
    lines = ["| ratio | throughput |", "| --- | ---: |"]
    pairs = [
        ("two replicas / one replica (Redis)", "redis-2", "redis-1"),
        ("one Redis replica / SQLite", "redis-1", "sqlite"),
        ("two Redis replicas / SQLite", "redis-2", "sqlite"),
    ]
    for label, top, bottom in pairs:
        if top in mean and bottom in mean:
            lines.append(f"| {label} | {mean[top] / mean[bottom]:.2f}x |")
    return lines


def machine() -> str:
    cores = os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{cores} cores, load average {load}; the load generator, redis-server and the "
        f"holdfast processes all share these {cores} cores (nothing pinned)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--skus", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    options = parser.parse_args(argv)
    modes = options.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")

    print(f"machine: {machine()}", flush=True)
    print(f"holdfast imported from {Path(holdfast.__file__).parent}", flush=True)
    print(
        f"workload: {options.concurrency} closed-loop callers, Reserve of 1 unit over "
        f"{options.skus} SKUs, {options.warmup:g} s warm-up, {options.seconds:g} s measured",
        flush=True,
    )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-redis-bench-") as tmp:
        for round_ in range(1, options.rounds + 1):
            for mode in modes:
                result = run_one(mode, round_, Path(tmp) / f"{mode}-{round_}", options)
                results.append(result)
                print(
                    f"{mode:>8} round {round_}: {result.per_second:9,.0f}/s "
                    f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms "
                    f"errors {result.errors} per replica {result.per_target}",
                    flush=True,
                )
                for kind, count in sorted(result.error_kinds.items()):
                    print(f"         error x{count}: {kind}", flush=True)
    print()
    for line in table(results):
        print(line)
    print()
    for line in ratios(results):
        print(line)
    print()
    print(f"after the run: {machine()}")
    if options.json is not None:
        options.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
