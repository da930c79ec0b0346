"""Reserve throughput and latency over gRPC: durable vs in-memory vs naive.

    .venv/bin/python benchmarks/durability/reserve_load.py \
        [--concurrency 1,16,64,256] [--modes in-memory,durable,naive] \
        [--seconds 5] [--warmup 1] [--server-core 0] [--load-core 1]

This process is the load generator (raw grpc.aio stubs: the typed client's
retry bookkeeping is not what is measured). For each concurrency and each
mode it starts a fresh server (its own process, pinned with ``taskset`` to
``--server-core``; this process pins itself to ``--load-core``), stocks one
SKU per worker group, warms up, then runs ``concurrency`` callers each
sending Reserve after Reserve (one unit, unique key, default hold) for
``--seconds``. Prints a table: requests/s, p50 and p99 latency, and the
durable/in-memory throughput ratio (target: >= 85% at concurrency >= 64).

Modes: ``in-memory`` (``serve --in-memory``), ``durable`` (``serve
--database``, synchronous=FULL, group commit), ``durable-normal``
(synchronous=NORMAL), ``naive`` (naive_server.py: the same engine, one
SQLite commit per request).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

SKUS = [f"BENCH-{n:02d}" for n in range(16)]
LOCATION = "L1"
CHANNELS = 4  # HTTP/2 connections the callers are spread over


@dataclass
class Result:
    mode: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: list[float], share: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, round(share * (len(sorted_values) - 1)))
    return sorted_values[index]


async def stock(stub: inventory_pb2_grpc.InventoryServiceStub, skus: Sequence[str] = SKUS) -> None:
    """Count ``skus`` at LOCATION with more stock than any run takes."""
    now = Timestamp()
    now.GetCurrentTime()
    for sku in skus:
        await stub.SetStock(
            pb.SetStockRequest(
                idempotency_key=str(uuid.uuid4()),
                sku=sku,
                location=LOCATION,
                on_hand=10**12,
                source_sequence=1,
                as_of=now,
            ),
            timeout=30,
        )


async def measure(
    target: str, mode: str, concurrency: int, seconds: float, warmup: float
) -> Result:
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    stubs = [inventory_pb2_grpc.InventoryServiceStub(c) for c in channels]
    await stock(stubs[0])
    prefix = uuid.uuid4().hex[:12]
    counter = itertools.count()
    latencies: list[float] = []
    errors = 0
    phase = {"recording": False, "stop": False}

    async def caller(worker: int) -> None:
        nonlocal errors
        stub = stubs[worker % CHANNELS]
        sku = SKUS[worker % len(SKUS)]
        while not phase["stop"]:
            n = next(counter)
            request = pb.ReserveRequest(
                idempotency_key=f"{prefix}-{n}",
                order_ref=f"order-{n}",
                lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=1)],
            )
            began = time.perf_counter()
            try:
                await stub.Reserve(request, timeout=60)
            except grpc.RpcError:
                if phase["recording"]:
                    errors += 1
                continue
            if phase["recording"]:
                latencies.append(time.perf_counter() - began)

    tasks = [asyncio.create_task(caller(w)) for w in range(concurrency)]
    await asyncio.sleep(warmup)
    phase["recording"] = True
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    phase["recording"] = False
    elapsed = time.perf_counter() - began
    done = len(latencies)
    phase["stop"] = True
    await asyncio.gather(*tasks)
    for channel in channels:
        await channel.close()
    latencies.sort()
    return Result(
        mode=mode,
        concurrency=concurrency,
        requests=done,
        errors=errors,
        seconds=elapsed,
        per_second=done / elapsed,
        p50_ms=percentile(latencies, 0.50) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
    )


def table(results: list[Result]) -> list[str]:
    memory = {r.concurrency: r.per_second for r in results if r.mode == "in-memory"}
    lines = [
        "| mode | concurrency | Reserve/s | p50 ms | p99 ms | vs in-memory | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in sorted(results, key=lambda r: (r.concurrency, r.mode)):
        base = memory.get(r.concurrency)
        ratio = f"{100 * r.per_second / base:.0f}%" if base else "-"
        lines.append(
            f"| {r.mode} | {r.concurrency} | {r.per_second:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {ratio} | {r.errors} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,16,64,256")
    parser.add_argument("--modes", default="in-memory,durable,naive")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--server-core", type=int, default=0, help="-1: do not pin")
    parser.add_argument("--load-core", type=int, default=1, help="-1: do not pin")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    options = parser.parse_args(argv)

    server_core = None if options.server_core < 0 else options.server_core
    if options.load_core >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {options.load_core})
    levels = [int(c) for c in options.concurrency.split(",")]
    modes = options.modes.split(",")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="holdfast-bench-") as tmp:
        for concurrency in levels:
            for mode in modes:
                workdir = Path(tmp) / f"{mode}-{concurrency}"
                server = servers.start(mode, workdir, server_core)
                try:
                    result = asyncio.run(
                        measure(server.target, mode, concurrency, options.seconds, options.warmup)
                    )
                finally:
                    server.stop()
                results.append(result)
                print(
                    f"{mode:>14} c={concurrency:<4} {result.per_second:9,.0f}/s "
                    f"p50 {result.p50_ms:7.2f} ms p99 {result.p99_ms:7.2f} ms "
                    f"errors {result.errors}",
                    flush=True,
                )
    print()
    for line in table(results):
        print(line)
    if options.json is not None:
        options.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
