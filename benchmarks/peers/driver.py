"""A small closed-loop Reserve driver: the stand-in until ``python -m holdfast
loadtest`` lands (run.py then drives every target with that instead).

    python benchmarks/peers/driver.py --target HOST:PORT [--scenario many-skus|flash-sale]
        [--concurrency 64] [--duration 8] [--warmup 2] [--skus 1000] [--stock N]
        [--json FILE] [--no-setup]

Stocks ``--skus`` SKUs with ``--stock`` units each (SetStock), then
``--concurrency`` callers over 4 HTTP/2 connections each send Reserve after
Reserve (one unit, unique key, default hold): ``many-skus`` spreads them
over the SKUs, ``flash-sale`` sends every one to the first SKU. ``--warmup``
seconds not recorded, then ``--duration`` recorded. A refusal for stock
(INSUFFICIENT_STOCK) is an answer, counted apart; anything else that is not
a hold is an error. At the end it checks, with GetAvailability, that every
SKU's reserved units equal the holds it was granted and that none is
oversold; exit 0 when they do.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc, reasons_pb2

CHANNELS = 4
LOCATION = "WH-1"


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(share * (len(values) - 1)))]


def error_reason(error: grpc.aio.AioRpcError) -> str:
    """The ErrorInfo reason in the rich status, else the status code's name."""
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    status = rpc_status.from_call(error)
    if status is not None:
        for detail in status.details:
            info = error_details_pb2.ErrorInfo()
            if detail.Unpack(info):
                return str(info.reason)
    return str(error.code().name)


async def setup(stub: inventory_pb2_grpc.InventoryServiceStub, skus: list[str], stock: int) -> None:
    now = Timestamp()
    now.GetCurrentTime()
    for sku in skus:
        await stub.SetStock(
            pb.SetStockRequest(
                idempotency_key=str(uuid.uuid4()), sku=sku, location=LOCATION,
                on_hand=stock, source_sequence=1, as_of=now,
            ),
            timeout=30,
        )  # fmt: skip


async def measure(options: argparse.Namespace) -> dict[str, Any]:
    channels = [grpc.aio.insecure_channel(options.target) for _ in range(CHANNELS)]
    stubs = [inventory_pb2_grpc.InventoryServiceStub(c) for c in channels]
    skus = [f"PEER-{n:05d}" for n in range(options.skus)]
    if not options.no_setup:
        await setup(stubs[0], skus, options.stock)
    prefix = uuid.uuid4().hex[:12]
    counter = itertools.count()
    latencies: list[float] = []
    granted: collections.Counter[str] = collections.Counter()  # holds per SKU, whole run
    answers: collections.Counter[str] = collections.Counter()  # measured window only
    phase = {"recording": False, "stop": False}
    hot = options.scenario == "flash-sale"

    async def caller(worker: int) -> None:
        stub = stubs[worker % CHANNELS]
        while not phase["stop"]:
            n = next(counter)
            sku = skus[0] if hot else skus[n % len(skus)]
            request = pb.ReserveRequest(
                idempotency_key=f"{prefix}-{n}",
                order_ref=f"order-{n}",
                lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=1)],
            )
            began = time.perf_counter()
            try:
                response = await stub.Reserve(request, timeout=60)
                reason = reasons_pb2.ReasonCode.Name(response.decision.reason)
            except grpc.aio.AioRpcError as error:
                reason = error_reason(error)
            took = time.perf_counter() - began
            if reason == "RESERVED":
                granted[sku] += 1
            if phase["recording"]:
                answers[reason] += 1
                if reason in ("RESERVED", "INSUFFICIENT_STOCK"):
                    latencies.append(took)

    tasks = [asyncio.create_task(caller(w)) for w in range(options.concurrency)]
    await asyncio.sleep(options.warmup)
    phase["recording"] = True
    window_start = time.time()
    began = time.perf_counter()
    await asyncio.sleep(options.duration)
    phase["recording"] = False
    elapsed = time.perf_counter() - began
    window_end = time.time()
    phase["stop"] = True
    await asyncio.gather(*tasks)
    problems = await check(stubs[0], skus, granted, options.stock)
    for channel in channels:
        await channel.close()
    latencies.sort()
    answered = answers["RESERVED"] + answers["INSUFFICIENT_STOCK"]
    return {
        "target": options.target,
        "scenario": options.scenario,
        "concurrency": options.concurrency,
        "seconds": elapsed,
        "window": [window_start, window_end],
        "calls": answered,
        "calls_per_second": answered / elapsed,
        "holds": answers["RESERVED"],
        "refused_for_stock": answers["INSUFFICIENT_STOCK"],
        "errors": sum(answers.values()) - answered,
        "answers": dict(answers),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p90_ms": percentile(latencies, 0.90) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "p999_ms": percentile(latencies, 0.999) * 1000,
        "check_problems": problems,
    }


async def check(
    stub: inventory_pb2_grpc.InventoryServiceStub,
    skus: list[str],
    granted: collections.Counter[str],
    stock: int,
) -> list[str]:
    """Nothing oversold, and what each SKU holds is what was granted."""
    response = await stub.GetAvailability(pb.GetAvailabilityRequest(skus=skus[:1000]), timeout=60)
    problems = []
    seen = {p.sku: p for p in response.positions}
    for sku in skus[:1000]:
        position = seen.get(sku)
        if position is None:
            problems.append(f"{sku}: no position")
            continue
        if position.available < 0 or position.reserved > stock:
            problems.append(f"{sku}: oversold ({position.reserved} held of {stock})")
        if position.reserved != granted[sku]:
            problems.append(f"{sku}: {position.reserved} held, {granted[sku]} granted")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--scenario", choices=("many-skus", "flash-sale"), default="many-skus")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--stock", type=int, default=10**12)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--no-setup", action="store_true")
    options = parser.parse_args()
    result = asyncio.run(measure(options))
    if options.json is not None:
        options.json.write_text(json.dumps(result, indent=2))
    print(
        f"{result['calls_per_second']:,.0f} calls/s p50 {result['p50_ms']:.2f} ms "
        f"p99 {result['p99_ms']:.2f} ms errors {result['errors']} answers {result['answers']}"
    )
    for problem in result["check_problems"][:10]:
        print(f"check: {problem}")
    return 1 if result["check_problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
