"""The load generator of the backpressure test, run as its own process.

``python load_driver.py TARGET SKU closed CONCURRENCY COUNT`` keeps
CONCURRENCY Reserve calls outstanding (each caller sends its next call when
the last one is answered) until COUNT have been answered;
``python load_driver.py TARGET SKU open RATE SECONDS`` sends RATE Reserve
calls a second for SECONDS whatever the answers (open loop: a refusal does
not slow the offered load down). Either prints one JSON object: the
throughput and every call's sample ``[seconds, code, reason, retry_info_ms,
pushback_ms]`` (the two delays -1 when absent).

A separate process, so the server's event loop shares neither an
interpreter nor a GIL with the load it is judged under.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc

LOCATION = "L1"
# Generous: a call that is not answered within it counts as timed out.
DEADLINE_S = 20.0

Sample = list[Any]


def _request(sku: str) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        idempotency_key=uuid.uuid4().hex,
        lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=1)],
    )


def _delays(error: grpc.aio.AioRpcError) -> tuple[str, int, int]:
    """The refusal's reason, RetryInfo delay and pushback trailer (ms; -1: absent)."""
    reason, retry_ms, pushback_ms = "", -1, -1
    trailers = error.trailing_metadata() or ()
    for key, value in trailers:
        if key == "grpc-retry-pushback-ms":
            pushback_ms = int(value)
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_ms = round(retry.retry_delay.ToMilliseconds())
    return reason, retry_ms, pushback_ms


async def _one(stub: Any, sku: str, samples: list[Sample]) -> None:
    request = _request(sku)
    started = time.perf_counter()
    try:
        await stub.Reserve(request, timeout=DEADLINE_S)
    except grpc.aio.AioRpcError as e:
        seconds = time.perf_counter() - started
        reason, retry_ms, pushback_ms = _delays(e)
        samples.append([seconds, e.code().name, reason, retry_ms, pushback_ms])
        return
    samples.append([time.perf_counter() - started, "OK", "", -1, -1])


async def closed(target: str, sku: str, concurrency: int, count: int) -> dict[str, Any]:
    samples: list[Sample] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        await _one(stub, sku, [])  # the channel connected before the clock starts
        remaining = count

        async def caller() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await _one(stub, sku, samples)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "samples": samples}


async def open_loop(target: str, sku: str, rate: float, seconds: float) -> dict[str, Any]:
    samples: list[Sample] = []
    tasks: set[asyncio.Task[None]] = set()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        await _one(stub, sku, [])
        total = round(rate * seconds)
        started = time.perf_counter()
        for n in range(total):
            # Sent on schedule, answered or not; a late loop catches up.
            wait = started + n / rate - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            task = asyncio.create_task(_one(stub, sku, samples))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        sent_s = time.perf_counter() - started
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    return {"elapsed_s": elapsed, "sent_s": sent_s, "sent": total, "samples": samples}


def main(argv: list[str]) -> None:
    target, sku, mode, first, second = argv
    if mode == "closed":
        result = asyncio.run(closed(target, sku, int(first), int(second)))
    else:
        result = asyncio.run(open_loop(target, sku, float(first), float(second)))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
