"""expire_due: its cost follows the number of holds that expire, not the
number held.

Reproduce:
    .venv/bin/python -m pytest benchmarks/test_expiry.py --benchmark-only \
        --benchmark-group-by=group

Both benchmarks place their holds (1,000 SKUs, single-line holds of one unit,
through execute_batch, journal drained) outside the timing; what is timed is
one `engine.expire_due(now)` call, which journals one event per expired hold
and returns the expired ids as a list of strings.
"""

from __future__ import annotations

from typing import Any

import pytest
import workload
from holdfast import Engine
from summary import Figure

HOLDS = 1_000_000
SKUS = workload.sku_names(1_000)
SHORT_HOLD_MS = 60_000
LONG_HOLD_MS = 3_600_000
DUE_PER_ROUND = 1_000
ROUNDS_FEW_DUE = 20


def _engine() -> Any:
    return workload.stocked(Engine(default_hold_ms=SHORT_HOLD_MS), SKUS, on_hand=1_000_000)


@pytest.mark.benchmark(group="expire_due")
def test_expire_all_of_1m(benchmark: Any, figures: Any) -> None:
    """1,000,000 open holds, all due: one call expires every one."""
    engines: list[Any] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        engines[:] = []  # drop the previous round's engine first
        engine = _engine()
        workload.place_holds(engine, HOLDS, SKUS, workload.NOW + 1)
        engines.append(engine)
        return (engine, workload.NOW + 1 + SHORT_HOLD_MS), {}

    def expire(engine: Any, now: int) -> list[str]:
        expired: list[str] = engine.expire_due(now)
        return expired

    expired = benchmark.pedantic(expire, setup=setup, rounds=3, iterations=1)
    assert len(expired) == HOLDS
    assert engines[0].open_holds() == 0
    stats = benchmark.stats.stats
    per_hold_ns = stats.median / HOLDS * 1e9
    benchmark.extra_info.update(expired=HOLDS, open_before=HOLDS, ns_per_expired=per_hold_ns)
    figures(
        Figure(
            "expire_due, 1,000,000 due of 1,000,000 open",
            stats.median,
            "s",
            note=f"{per_hold_ns:,.0f} ns per expired hold; no target",
        )
    )


@pytest.mark.benchmark(group="expire_due")
def test_expire_1000_of_1m(benchmark: Any, figures: Any) -> None:
    """1,000,000 long holds stay open; each round 1,000 short holds come due."""
    engine = _engine()
    now = workload.NOW + 1
    workload.place_holds(engine, HOLDS, SKUS, now, hold_seconds=LONG_HOLD_MS // 1000)
    # Round r expires the r-th group of short holds, due at `now + due_ms(r)`.
    due_ms = [SHORT_HOLD_MS + r * 1_000 for r in range(ROUNDS_FEW_DUE + 1)]
    for r, hold_ms in enumerate(due_ms):
        workload.place_holds(
            engine,
            DUE_PER_ROUND,
            SKUS,
            now,
            hold_seconds=hold_ms // 1000,
            first=HOLDS + r * DUE_PER_ROUND,
        )
    rounds = iter(due_ms)
    results: list[int] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        engine.drain_journal()  # the previous round's events
        return (engine, now + next(rounds)), {}

    def expire(engine: Any, at: int) -> list[str]:
        expired: list[str] = engine.expire_due(at)
        results.append(len(expired))
        return expired

    # The warm-up round uses the first group.
    benchmark.pedantic(expire, setup=setup, rounds=ROUNDS_FEW_DUE, iterations=1, warmup_rounds=1)
    assert results == [DUE_PER_ROUND] * (ROUNDS_FEW_DUE + 1)
    assert engine.open_holds() == HOLDS
    stats = benchmark.stats.stats
    per_hold_ns = stats.median / DUE_PER_ROUND * 1e9
    benchmark.extra_info.update(
        expired=DUE_PER_ROUND, open_before=HOLDS + DUE_PER_ROUND, ns_per_expired=per_hold_ns
    )
    figures(
        Figure(
            "expire_due, 1,000 due of >1,000,000 open",
            stats.median * 1e3,
            "ms",
            note=f"{per_hold_ns:,.0f} ns per expired hold; no target",
        )
    )
