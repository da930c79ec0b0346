"""Reserve + release throughput, single thread: per-call API, execute_batch,
and the pure-Python model (tests/model.py) on the same per-call workload.

Reproduce:
    .venv/bin/python -m pytest benchmarks/test_throughput.py --benchmark-only \
        --benchmark-group-by=group

One operation is one reserve or one release (a pair is two). Each round runs
on a fresh engine stocked with one SKU at one location; keys ("hold-0000001",
"release-0000001") and order refs are made in the setup, outside the timing.
`now` advances as the run goes and the journal is drained every 10,000
operations inside the timed region, as a service would (the model keeps no
journal, so it skips that work). The engine and the model run side by side at
100, 1,000 and 10,000 pairs a round (the model's cost per request grows with
the reservations it holds); the engine/model ratios are printed in the
"holdfast figures" section at the end of the run.

Only the model comparison:
    .venv/bin/python -m pytest benchmarks/test_throughput.py -k vs_model \
        --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

from typing import Any

import pytest
import workload
from holdfast import Engine
from summary import Figure

PER_CALL_PAIRS = 100_000  # 200,000 operations a round
PREFILLED_PAIRS = 1_000_000


def _round_setup(make_engine: Any, pairs: int) -> Any:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        engine = workload.stocked(make_engine())
        args = (
            engine,
            workload.hold_keys(0, pairs),
            workload.release_keys(0, pairs),
            workload.order_refs(0, pairs),
            workload.NOW + 1,
        )
        return args, {}

    return setup


def _check_all_released(engine: Any, pairs: int) -> None:
    assert engine.reservation_count() == pairs
    assert engine.open_holds() == 0
    position = engine.position(workload.SKU, workload.LOCATION)
    assert position["reserved"] == 0
    assert position["available"] == workload.ON_HAND


@pytest.mark.benchmark(group="reserve+release per-call")
def test_per_call_engine(benchmark: Any, figures: Any, ops_rate: Any) -> None:
    engines: list[Any] = []

    def make() -> Any:
        engines[:] = [Engine()]
        return engines[0]

    ops = benchmark.pedantic(
        workload.per_call_pairs,
        setup=_round_setup(make, PER_CALL_PAIRS),
        rounds=10,
        iterations=1,
        warmup_rounds=1,
    )
    _check_all_released(engines[0], PER_CALL_PAIRS)
    rate = ops_rate(benchmark, ops)
    figures(
        Figure(
            "per-call reserve+release (engine)",
            rate["ops_per_s_median"],
            "ops/s",
            target=500_000,
            note=f"best round {rate['ops_per_s_best']:,.0f} ops/s",
        )
    )


@pytest.mark.benchmark(group="reserve+release execute_batch")
def test_batch_engine(benchmark: Any, figures: Any, ops_rate: Any) -> None:
    engines: list[Any] = []

    def make() -> Any:
        engines[:] = [Engine()]
        return engines[0]

    ops = benchmark.pedantic(
        workload.batch_pairs,
        setup=_round_setup(make, PER_CALL_PAIRS),
        rounds=10,
        iterations=1,
        warmup_rounds=1,
    )
    _check_all_released(engines[0], PER_CALL_PAIRS)
    rate = ops_rate(benchmark, ops)
    figures(
        Figure(
            "execute_batch reserve+release (engine)",
            rate["ops_per_s_median"],
            "ops/s",
            target=2_000_000,
            note=f"batches of {workload.BATCH}; best round {rate['ops_per_s_best']:,.0f} ops/s",
        )
    )


# The model's cost per request grows with the number of reservations it holds
# (it sweeps for due holds by scanning them all), so the engine/model ratio
# depends on how long a run is: both run the same sizes, on fresh engines.
# (pairs per round, rounds)
MODEL_SIZES = [(100, 50), (1_000, 10), (10_000, 3)]


@pytest.mark.parametrize("implementation", ["engine", "model"])
@pytest.mark.parametrize(
    ("pairs", "rounds"), MODEL_SIZES, ids=[f"{pairs}pairs" for pairs, _ in MODEL_SIZES]
)
def test_per_call_vs_model(
    benchmark: Any, figures: Any, ops_rate: Any, implementation: str, pairs: int, rounds: int
) -> None:
    benchmark.group = f"engine vs model, per-call, {pairs:,} pairs a round"
    if implementation == "model":
        model = pytest.importorskip("model", reason="tests/model.py (ModelEngine) is not there")
        make_engine: Any = model.ModelEngine
    else:
        make_engine = Engine
    ops = benchmark.pedantic(
        workload.per_call_pairs,
        setup=_round_setup(make_engine, pairs),
        rounds=rounds,
        iterations=1,
    )
    rate = ops_rate(benchmark, ops)
    figures(
        Figure(
            f"per-call, {pairs:,} pairs a round ({implementation})",
            rate["ops_per_s_median"],
            "ops/s",
            note=f"best round {rate['ops_per_s_best']:,.0f} ops/s",
        )
    )


@pytest.mark.benchmark(group="reserve+release per-call, 1M keys already held")
def test_per_call_engine_prefilled(benchmark: Any, figures: Any, ops_rate: Any) -> None:
    """The per-call workload on an engine that already remembers 2,000,000
    idempotency keys and 1,000,000 (released) reservations, so that its tables
    no longer fit in cache. One engine for all rounds; each round uses fresh keys."""
    engine = workload.stocked(Engine())
    workload.batch_pairs(
        engine,
        workload.hold_keys(0, PREFILLED_PAIRS),
        workload.release_keys(0, PREFILLED_PAIRS),
        workload.order_refs(0, PREFILLED_PAIRS),
        workload.NOW + 1,
        batch=10_000,
    )
    rounds = iter(range(100))

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        start = PREFILLED_PAIRS + next(rounds) * PER_CALL_PAIRS
        args = (
            engine,
            workload.hold_keys(start, PER_CALL_PAIRS),
            workload.release_keys(start, PER_CALL_PAIRS),
            workload.order_refs(start, PER_CALL_PAIRS),
            workload.NOW + 1_000 + start,  # `now` keeps moving forward
        )
        return args, {}

    ops = benchmark.pedantic(
        workload.per_call_pairs, setup=setup, rounds=5, iterations=1, warmup_rounds=1
    )
    assert engine.open_holds() == 0
    rate = ops_rate(benchmark, ops)
    figures(
        Figure(
            "per-call reserve+release, 1M keys held (engine)",
            rate["ops_per_s_median"],
            "ops/s",
            note=f"no target; best round {rate['ops_per_s_best']:,.0f} ops/s",
        )
    )
