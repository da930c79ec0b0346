"""Where the time of a reserve + release goes, split by stage (a diagnostic,
not a benchmark: it has no target and pytest does not collect it).

Reproduce:
    .venv/bin/python benchmarks/breakdown.py

Runs the batch workload of test_throughput.py (batches of 1,000 reserves,
then 1,000 releases of the ids they returned, journal drained every 10,000
operations) and times each stage separately, per request:

- "extract only": execute_batch on the same batch with one malformed item
  appended, so that the binding converts every tuple into a core request and
  then refuses the batch before the core sees it (conversion + drop of the
  converted requests);
- "full": the real execute_batch call (conversion, core, Outcome objects);
- the difference is what the core and the Outcome objects cost;
- reading `Outcome.reservation_id` (UUID to str), and drain_journal per event.

The per-call path is timed the same way, one reserve and one release at a time.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload
from holdfast import Engine

BATCH = 1_000
BATCHES = 100
REPEATS = 3
MALFORMED = ("reserve",)


def convert_only(engine: Engine, malformed: list[tuple[object, ...]]) -> None:
    """Have the binding convert a batch whose last item it then refuses."""
    try:
        engine.execute_batch(malformed)
    except ValueError:
        return
    raise AssertionError("the malformed batch was accepted")


def batch_stages() -> dict[str, float]:
    stages = dict.fromkeys(
        [
            "reserve: extract only",
            "reserve: full execute_batch",
            "reserve: Outcome.reservation_id",
            "release: extract only",
            "release: full execute_batch",
            "drain_journal, per event",
        ],
        0.0,
    )
    clock = time.perf_counter
    lines = [(workload.SKU, workload.LOCATION, 1)]
    for repeat in range(REPEATS):
        engine = workload.stocked(Engine())
        now = workload.NOW + 1
        for b in range(BATCHES):
            first = (repeat * BATCHES + b) * BATCH
            numbers = range(first, first + BATCH)
            now += 1
            reserves = [
                (
                    "reserve",
                    workload.TENANT,
                    f"hold-{i:07d}",
                    workload.ACTOR,
                    now,
                    f"order-{i:07d}",
                    workload.CHANNEL,
                    lines,
                    0,
                    False,
                )
                for i in numbers
            ]
            malformed = [*reserves, MALFORMED]
            t0 = clock()
            convert_only(engine, malformed)
            t1 = clock()
            outcomes = engine.execute_batch(reserves)
            t2 = clock()
            ids = [outcome.reservation_id for outcome in outcomes]
            t3 = clock()
            releases = [
                ("release", workload.TENANT, f"release-{i:07d}", workload.ACTOR, now, rid, "")
                for i, rid in zip(numbers, ids, strict=True)
            ]
            malformed = [*releases, MALFORMED]
            t4 = clock()
            convert_only(engine, malformed)
            t5 = clock()
            engine.execute_batch(releases)
            t6 = clock()
            if b % 5 == 4:
                engine.drain_journal()
            t7 = clock()
            stages["reserve: extract only"] += t1 - t0
            stages["reserve: full execute_batch"] += t2 - t1
            stages["reserve: Outcome.reservation_id"] += t3 - t2
            stages["release: extract only"] += t5 - t4
            stages["release: full execute_batch"] += t6 - t5
            stages["drain_journal, per event"] += (t7 - t6) / 2
    requests = REPEATS * BATCHES * BATCH
    return {name: seconds / requests * 1e9 for name, seconds in stages.items()}


def per_call_stages() -> dict[str, float]:
    stages = dict.fromkeys(["reserve call", "release call", "drain_journal, per event"], 0.0)
    clock = time.perf_counter
    lines = [(workload.SKU, workload.LOCATION, 1)]
    chunk = workload.DRAIN_EVERY_OPS // 2
    count = REPEATS * BATCHES * BATCH
    holds = workload.hold_keys(0, count)
    releases = workload.release_keys(0, count)
    orders = workload.order_refs(0, count)
    engine = workload.stocked(Engine())
    reserve, release = engine.reserve, engine.release
    tenant, actor, channel = workload.TENANT, workload.ACTOR, workload.CHANNEL
    for first in range(0, count, chunk):
        numbers = range(first, first + chunk)
        now = workload.NOW + 1 + first
        t0 = clock()
        ids = [
            reserve(tenant, holds[i], actor, now + i, orders[i], channel, lines).reservation_id
            for i in numbers
        ]
        t1 = clock()
        for i, rid in zip(numbers, ids, strict=True):
            release(tenant, releases[i], actor, now + i, rid)
        t2 = clock()
        engine.drain_journal()
        t3 = clock()
        stages["reserve call"] += t1 - t0
        stages["release call"] += t2 - t1
        stages["drain_journal, per event"] += (t3 - t2) / 2
    return {name: seconds / count * 1e9 for name, seconds in stages.items()}


def main() -> None:
    batch = batch_stages()
    print("execute_batch, ns per request:")
    for name, ns in batch.items():
        print(f"  {name:34s} {ns:7.0f}")
    core_reserve = batch["reserve: full execute_batch"] - batch["reserve: extract only"]
    core_release = batch["release: full execute_batch"] - batch["release: extract only"]
    print(f"  {'=> core + Outcome, reserve':34s} {core_reserve:7.0f}")
    print(f"  {'=> core + Outcome, release':34s} {core_release:7.0f}")
    print("per-call, ns per request (reserve includes reading reservation_id):")
    for name, ns in per_call_stages().items():
        print(f"  {name:34s} {ns:7.0f}")


if __name__ == "__main__":
    main()
