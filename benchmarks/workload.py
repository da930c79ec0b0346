"""Shared workloads for the benchmarks (imported by the benchmark files and by
memory_per_hold.py; not a benchmark itself).

Every workload takes the engine as an argument, so the holdfast engine and the
pure-Python model (tests/model.py) run exactly the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TENANT = "acme"
ACTOR = "checkout"
CHANNEL = "web"
SKU = "SKU-0000001"
LOCATION = "WH-1"
# Unix milliseconds; the core reads no clock, every call says what time it is.
NOW = 1_767_225_600_000
ON_HAND = 1_000_000_000_000  # the largest count a position may report (MAX_ON_HAND)
# A real service drains the journal (and makes it durable) as it goes.
DRAIN_EVERY_OPS = 10_000
BATCH = 1_000


def hold_keys(start: int, count: int) -> list[str]:
    return [f"hold-{i:07d}" for i in range(start, start + count)]


def release_keys(start: int, count: int) -> list[str]:
    return [f"release-{i:07d}" for i in range(start, start + count)]


def order_refs(start: int, count: int) -> list[str]:
    return [f"order-{i:07d}" for i in range(start, start + count)]


def _no_journal() -> None:
    return None


def drainer(engine: Any) -> Any:
    """engine.drain_journal; a no-op for an engine that keeps no journal (the model)."""
    return getattr(engine, "drain_journal", _no_journal)


def stocked(engine: Any, skus: Sequence[str] = (SKU,), on_hand: int = ON_HAND) -> Any:
    """Count stock for each SKU at LOCATION; returns the engine."""
    for i, sku in enumerate(skus):
        outcome = engine.set_stock(TENANT, f"count-{i:07d}", ACTOR, NOW, sku, LOCATION, on_hand, 1)
        assert outcome.accepted, outcome
    drainer(engine)()
    return engine


def per_call_pairs(
    engine: Any,
    holds: Sequence[str],
    releases: Sequence[str],
    orders: Sequence[str],
    now: int,
) -> int:
    """Reserve one unit and release it again, one call each, `len(holds)` times.

    Returns the number of operations (two per pair). `now` advances one
    millisecond per pair; the journal is drained every DRAIN_EVERY_OPS operations.
    """
    reserve = engine.reserve
    release = engine.release
    drain = drainer(engine)
    lines = [(SKU, LOCATION, 1)]
    drain_every = DRAIN_EVERY_OPS // 2
    pending = 0
    for hold_key, release_key, order_ref in zip(holds, releases, orders, strict=True):
        now += 1
        outcome = reserve(TENANT, hold_key, ACTOR, now, order_ref, CHANNEL, lines)
        release(TENANT, release_key, ACTOR, now, outcome.reservation_id)
        pending += 1
        if pending == drain_every:
            drain()
            pending = 0
    drain()
    return 2 * len(holds)


def batch_pairs(
    engine: Any,
    holds: Sequence[str],
    releases: Sequence[str],
    orders: Sequence[str],
    now: int,
    batch: int = BATCH,
) -> int:
    """The per-call workload through execute_batch: a batch of `batch` reserves,
    then a batch of `batch` releases of the ids they returned.

    The request tuples are built inside (a caller has to build them), from
    precomputed keys. `now` advances one millisecond per batch.
    """
    execute = engine.execute_batch
    drain = engine.drain_journal
    lines = [(SKU, LOCATION, 1)]
    pending = 0
    for start in range(0, len(holds), batch):
        now += 1
        stop = start + batch
        outcomes = execute(
            [
                ("reserve", TENANT, key, ACTOR, now, ref, CHANNEL, lines, 0, False)
                for key, ref in zip(holds[start:stop], orders[start:stop], strict=True)
            ]
        )
        execute(
            [
                ("release", TENANT, key, ACTOR, now, outcome.reservation_id, "")
                for key, outcome in zip(releases[start:stop], outcomes, strict=True)
            ]
        )
        pending += 2 * len(outcomes)
        if pending >= DRAIN_EVERY_OPS:
            drain()
            pending = 0
    drain()
    return 2 * len(holds)


def place_holds(
    engine: Any,
    count: int,
    skus: Sequence[str],
    now: int,
    hold_seconds: int = 0,
    first: int = 0,
    batch: int = 10_000,
) -> None:
    """Place `count` single-line holds of one unit, spread over `skus`, with
    keys like "hold-0000001" and order refs like "order-0000001"; the journal
    is drained after every batch. Keys are made a batch at a time, so that
    nothing but the engine keeps them. All holds are placed at `now`."""
    execute = engine.execute_batch
    drain = engine.drain_journal
    n_skus = len(skus)
    for start in range(first, first + count, batch):
        stop = min(start + batch, first + count)
        outcomes = execute(
            [
                (
                    "reserve",
                    TENANT,
                    f"hold-{i:07d}",
                    ACTOR,
                    now,
                    f"order-{i:07d}",
                    CHANNEL,
                    [(skus[i % n_skus], LOCATION, 1)],
                    hold_seconds,
                    False,
                )
                for i in range(start, stop)
            ]
        )
        drain()
        if not outcomes[-1].accepted:
            raise AssertionError(f"hold {stop - 1} was not placed: {outcomes[-1]!r}")


def sku_names(count: int) -> list[str]:
    return [f"SKU-{i:07d}" for i in range(count)]
