"""Load for the crash and journal-failure tests, run as its own process.

    python tests/crash/crash_driver.py --target 127.0.0.1:PORT --tenant T \
        --skus A,B,C --records FILE [--workers 8] [--duration 30] [--seed 1]

Workers reserve a few units of SKUs with limited stock, then allocate,
release, or leave the hold, and now and then send an earlier call again with
the same key (a replay). Every call is written to ``--records`` as one JSON
line, flushed at once: ``sent`` before the call goes out, then ``ack`` when
holdfast answered with a decision (accepted, or refused by a business rule)
or ``failed`` when it did not (unreachable, journal down, overloaded, timed
out: nothing the caller may count on). Only ``ack`` lines are promises the
checks hold the server to; a ``sent`` without its ``ack`` may or may not
have happened.

The client makes one attempt per call (no retries), so each line is exactly
one request. With ``--stop-when-gone`` the driver stops at the first call
that finds no server (the crash test kills it under the driver's feet).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

import grpc
from holdfast.client import AsyncClient, HoldfastError, RetryPolicy, mint_key
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2

LOCATION = "L1"
# Codes of answers that are decisions: the core decided and stored them
# under the key, so the same key must answer the same after any restart.
DECIDED_CODES = frozenset({grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND})

# What an accepted action leaves the reservation in (LineState names).
STATE_AFTER = {"reserve": "RESERVED", "allocate": "ALLOCATED", "release": "RELEASED"}


async def call(client: AsyncClient, op: str, key: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Send one call; its outcome as a record (``accepted``, ``reservation_id``, ...).

    Raises HoldfastError for an answer that is not a decision.
    """
    try:
        if op == "reserve":
            response: Any = await client.reserve(
                [tuple(line) for line in args["lines"]],
                order_ref=args["order_ref"],
                hold_seconds=args["hold_seconds"],
                idempotency_key=key,
            )
        elif op == "allocate":
            response = await client.allocate(args["reservation_id"], idempotency_key=key)
        elif op == "release":
            response = await client.release(args["reservation_id"], idempotency_key=key)
        elif op == "adjust_stock":
            response = await client.adjust_stock(
                args["sku"], LOCATION, args["delta"], reason="restock", idempotency_key=key
            )
        else:
            raise ValueError(f"unknown op {op}")
    except HoldfastError as error:
        if error.code not in DECIDED_CODES:
            raise
        return {
            "accepted": False,
            "reservation_id": None,
            "reason": error.reason,
            "replayed": None,  # a refusal does not say; its reason and facts must match
            "facts": error.facts,
        }
    reservation = getattr(response, "reservation", None)
    rid = reservation.reservation_id if reservation is not None and op != "adjust_stock" else None
    return {
        "accepted": True,
        "reservation_id": rid or None,
        "reason": reasons_pb2.ReasonCode.Name(response.decision.reason),
        "replayed": bool(response.decision.replayed),
        "facts": {},
        "state": None if reservation is None else pb.LineState.Name(reservation.state),
    }


class Driver:
    def __init__(self, client: AsyncClient, records: IO[str], options: argparse.Namespace) -> None:
        self.client = client
        self.records = records
        self.options = options
        self.skus: list[str] = options.skus.split(",")
        self.stop = asyncio.Event()
        self.deadline = time.monotonic() + options.duration
        self.counts: dict[str, int] = {}

    def write(self, record: dict[str, Any]) -> None:
        # One write and a flush per line: a kill of this process leaves at
        # worst the last line cut short, which readers skip.
        self.records.write(json.dumps(record, separators=(",", ":")) + "\n")
        self.records.flush()

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def send(
        self, worker: int, op: str, key: str, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """One call, recorded; its outcome, or None when it was not a decision."""
        self.write({"t": "sent", "w": worker, "op": op, "key": key, "args": args})
        try:
            outcome = await call(self.client, op, key, args)
        except HoldfastError as error:
            self.write(
                {
                    "t": "failed",
                    "w": worker,
                    "op": op,
                    "key": key,
                    "code": error.code.name,
                    "reason": error.reason,
                }
            )
            self.count(f"failed {error.code.name} {error.reason}".strip())
            if (
                self.options.stop_when_gone
                and error.code == grpc.StatusCode.UNAVAILABLE
                and not error.reason
            ):
                self.stop.set()  # no server there: it was killed
            elif error.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED):
                await asyncio.sleep(self.options.backoff)
            return None
        self.write({"t": "ack", "w": worker, "op": op, "key": key, "args": args, **outcome})
        replay = " replay" if outcome["replayed"] else ""
        self.count(f"ack {op} {outcome['reason']}{replay}")
        return outcome

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    async def restock(self) -> None:
        """Top up SKUs running low, so each cycle has stock to contend for."""
        try:
            answer = await self.client.get_availability(self.skus, [LOCATION])
        except HoldfastError:
            return  # no server (yet): the workers find out the same way
        for position in answer.positions:
            if position.available < self.options.restock_below:
                args = {"sku": position.sku, "delta": self.options.restock_by}
                await self.send(-1, "adjust_stock", mint_key(), args)

    async def worker(self, worker: int, rng: random.Random) -> None:
        done: list[tuple[str, str, dict[str, Any]]] = []  # acknowledged calls, to replay
        serial = 0
        while self.running():
            if done and rng.random() < self.options.replay_share:
                op, key, args = rng.choice(done)
                await self.send(worker, op, key, args)
                continue
            serial += 1
            skus = rng.sample(self.skus, rng.choice((1, 1, 2)))
            reserve_args = {
                "lines": [[sku, LOCATION, rng.randint(1, 3)] for sku in skus],
                "order_ref": f"w{worker}-{serial}-{rng.getrandbits(32):08x}",
                "hold_seconds": self.options.hold_seconds,
            }
            key = mint_key()
            outcome = await self.send(worker, "reserve", key, reserve_args)
            if outcome is None:
                continue
            done.append(("reserve", key, reserve_args))
            rid = outcome["reservation_id"]
            if not outcome["accepted"] or rid is None:
                continue
            # What becomes of the hold: allocated (then maybe released),
            # released, or left held for the checks to find after the crash.
            roll = rng.random()
            steps = (
                ["allocate", "release"]
                if roll < 0.25
                else ["allocate"]
                if roll < 0.45
                else ["release"]
                if roll < 0.85
                else []
            )
            for op in steps:
                if not self.running():
                    break
                key = mint_key()
                args = {"reservation_id": rid}
                if await self.send(worker, op, key, args) is None:
                    break  # not decided: a later step would guess at its state
                done.append((op, key, args))

    async def run(self) -> None:
        if self.options.restock_by:
            await self.restock()
        rng = random.Random(self.options.seed)
        workers = [
            asyncio.create_task(self.worker(n, random.Random(rng.getrandbits(64))))
            for n in range(self.options.workers)
        ]
        await asyncio.gather(*workers)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--skus", required=True, help="comma-separated")
    parser.add_argument("--records", required=True, help="JSON-lines file, appended to")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hold-seconds", type=int, default=3600, help="long: nothing expires")
    parser.add_argument("--replay-share", type=float, default=0.15)
    parser.add_argument("--call-timeout", type=float, default=10.0)
    parser.add_argument("--backoff", type=float, default=0.05)
    parser.add_argument("--restock-below", type=int, default=20)
    parser.add_argument("--restock-by", type=int, default=0, help="0: no restock")
    parser.add_argument("--stop-when-gone", action="store_true")
    return parser.parse_args(argv)


async def amain(options: argparse.Namespace) -> dict[str, int]:
    retry = RetryPolicy.never()
    with open(options.records, "a", encoding="utf-8") as records:
        async with AsyncClient(
            options.target,
            tenant=options.tenant,
            actor="crash-driver",
            timeout=options.call_timeout,
            retry=retry,
        ) as client:
            driver = Driver(client, records, options)
            await driver.run()
            return driver.counts


def main(argv: list[str] | None = None) -> int:
    options = parse(sys.argv[1:] if argv is None else argv)
    counts = asyncio.run(amain(options))
    print(json.dumps(counts, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
