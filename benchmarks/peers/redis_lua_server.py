"""Peer 3: Reserve as one Lua script in Redis, called with EVALSHA from redis-py asyncio.

    python benchmarks/peers/redis_lua_server.py --listen 127.0.0.1:PORT \
        --redis-url redis://127.0.0.1:PORT/0 [--no-pipeline]

What a team would build on Redis: ``reserve.lua`` (loaded once with SCRIPT
LOAD) looks up the idempotency record, checks every position's
availability, and only then increments what is reserved, stores the
reservation and the idempotency record, all in one atomic script. Durability
is the redis-server's: the runner starts it with ``appendfsync always``, so
Redis fsyncs its append-only file before it answers (it fsyncs once per
event-loop turn for every client served in that turn).

By default the calls are pipelined: every Reserve waiting while a pipeline is
in flight goes out in the next one (``transaction=False``; each EVALSHA is
still atomic on its own), so one round trip carries many scripts. With
``--no-pipeline`` every call takes a connection from the pool and sends its
own EVALSHA.

Replays answer from the stored record (the same reservation id, ``replayed``
set); a reused key with another request is IDEMPOTENCY_KEY_REUSED. Not
modelled: expiry of holds, rule sets, refusals kept for replay, any other RPC.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import common
import redis.asyncio as aioredis
from holdfast.v1 import inventory_pb2 as pb

SCRIPT = (Path(__file__).resolve().parent / "reserve.lua").read_text()
PREFIX = "peer"
RETENTION_S = 86_400  # holdfast's default idempotency retention
POSITIONS = f"{PREFIX}:positions"


def position_key(sku: str, location: str) -> str:
    return f"{PREFIX}:pos:{sku}\x1f{location}"


def fingerprint(request: pb.ReserveRequest) -> str:
    lines = "\x1e".join(f"{x.sku}\x1f{x.location}\x1f{x.quantity}" for x in request.lines)
    return "\x1d".join(
        (request.order_ref, request.channel, lines, str(request.hold_seconds),
         str(request.allow_partial))
    )  # fmt: skip


class Pipeliner:
    """EVALSHA calls sent together: whatever waits while one pipeline is in
    flight goes out in the next."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.waiting: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def call(self, *args: Any) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.waiting.append((args, future))
        self.wake.set()
        return await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.waiting = self.waiting, []
            if not batch:
                continue
            pipe = self.client.pipeline(transaction=False)
            for args, _ in batch:
                pipe.evalsha(*args)
            try:
                results = await pipe.execute(raise_on_error=False)
            except Exception as error:  # the connection failed: every call fails
                results = [error] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)


class RedisLuaServicer(common.PeerServicer):
    def __init__(self, url: str, pipeline: bool) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.pipeline = Pipeliner(self.client) if pipeline else None
        self.sha = ""

    async def start(self) -> None:
        self.sha = await self.client.script_load(SCRIPT)
        if self.pipeline is not None:
            self.pipeline.start()

    async def stop(self) -> None:
        if self.pipeline is not None and self.pipeline.task is not None:
            self.pipeline.task.cancel()
        await self.client.aclose()

    async def Reserve(self, request: pb.ReserveRequest, context: Any) -> pb.ReserveResponse:  # noqa: N802
        problem = common.check_reserve(request)
        if problem:
            await common.refuse(context, "INVALID_ARGUMENT", problem)
        lines = common.request_lines(request)
        wanted: dict[tuple[str, str], int] = {}
        for sku, location, quantity in lines:
            wanted[(sku, location)] = wanted.get((sku, location), 0) + quantity
        groups = list(wanted)
        now = common.now_ms()
        hold_ms = request.hold_seconds * 1000 or common.DEFAULT_HOLD_MS
        rid = common.mint_id()
        fp = fingerprint(request)
        key = request.idempotency_key
        args: tuple[Any, ...] = (
            self.sha,
            2 + len(groups),
            f"{PREFIX}:idem:{common.TENANT}:{key}",
            f"{PREFIX}:res:{rid}",
            *(position_key(sku, location) for sku, location in groups),
            fp, rid, now, now + hold_ms, request.order_ref, request.channel,
            "\x1e".join(f"{s}\x1f{loc}\x1f{q}" for s, loc, q in lines), RETENTION_S,
            *wanted.values(),
        )  # fmt: skip
        if self.pipeline is not None:
            answer = await self.pipeline.call(*args)
        else:
            answer = await self.client.evalsha(*args)
        verdict = answer[0].decode()
        if verdict == "replay":
            if answer[1].decode() != fp:
                await common.refuse(
                    context, "IDEMPOTENCY_KEY_REUSED", f"key {key} was used for another request"
                )
            rid, created, expires = answer[2].decode(), int(answer[3]), int(answer[4])
            return common.reserve_response(
                rid, request.order_ref, request.channel, lines, created, expires, key, True
            )
        if verdict == "unknown":
            sku, location = groups[int(answer[1]) - 1]
            await common.refuse(context, "UNKNOWN_SKU", f"no position for {sku} at {location}", sku)
        if verdict == "short":
            (sku, location), available = groups[int(answer[1]) - 1], int(answer[2])
            await common.refuse(
                context,
                "INSUFFICIENT_STOCK",
                f"{wanted[(sku, location)]} of {sku} at {location} asked, {available} available",
                sku,
            )
        return common.reserve_response(
            rid, request.order_ref, request.channel, lines, now, now + hold_ms, key
        )

    async def SetStock(self, request: pb.SetStockRequest, context: Any) -> pb.StockResponse:  # noqa: N802
        """A count replaces on_hand (no sequence check, no idempotency: setup only)."""
        now = common.now_ms()
        key = position_key(request.sku, request.location)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, mapping={"on_hand": request.on_hand, "seq": request.source_sequence})
        pipe.hsetnx(key, "reserved", 0)
        pipe.sadd(POSITIONS, f"{request.sku}\x1f{request.location}")
        pipe.hget(key, "reserved")
        *_, reserved = await pipe.execute()
        return common.stock_response(
            request.sku, request.location, request.on_hand, int(reserved),
            request.source_sequence, now,
        )  # fmt: skip

    async def GetAvailability(  # noqa: N802
        self, request: pb.GetAvailabilityRequest, context: Any
    ) -> pb.GetAvailabilityResponse:
        now = common.now_ms()
        skus, locations = set(request.skus), set(request.locations)
        members: Any = await self.client.smembers(POSITIONS)
        names = sorted(member.decode() for member in members)
        wanted = [
            tuple(name.split("\x1f"))
            for name in names
            if (not skus or name.split("\x1f")[0] in skus)
            and (not locations or name.split("\x1f")[1] in locations)
        ]
        pipe = self.client.pipeline(transaction=False)
        for sku, location in wanted:
            pipe.hmget(position_key(sku, location), "on_hand", "reserved", "seq")
        rows = await pipe.execute()
        return pb.GetAvailabilityResponse(
            positions=[
                common.position(sku, location, int(on_hand), int(reserved), int(seq), now)
                for (sku, location), (on_hand, reserved, seq) in zip(wanted, rows, strict=True)
            ],
            as_of=common.timestamp(now),
        )


async def run(listen: str, url: str, pipeline: bool) -> int:
    servicer = RedisLuaServicer(url, pipeline)  # type: ignore[abstract]
    await servicer.start()
    return await common.serve(listen, servicer, servicer.stop)


def main() -> int:
    parser = common.parser(__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--no-pipeline", action="store_true")
    options = parser.parse_args()
    return asyncio.run(run(options.listen, options.redis_url, not options.no_pipeline))


if __name__ == "__main__":
    sys.exit(main())
