"""The figures the issue sets targets for: recorded by the benchmarks, printed
by conftest.py in a "holdfast figures" section at the end of the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    note: str = ""

    def verdict(self) -> str:
        if self.target is None:
            return ""
        met = self.value >= self.target if self.higher_is_better else self.value <= self.target
        if self.higher_is_better:
            by = (self.value / self.target - 1) * 100
        else:
            by = (1 - self.value / self.target) * 100
        return f"{'met' if met else 'MISSED'} ({by:+.0f}%)"


FIGURES: dict[str, Figure] = {}
ENGINE_SUFFIX = " (engine)"
MODEL_SUFFIX = " (model)"
MODEL_RATIO_TARGET = 30


def record(figure: Figure) -> None:
    FIGURES[figure.name] = figure


def ops_per_second(benchmark: Any, ops_per_round: int) -> dict[str, float]:
    """Operations per second from the median and the best round (also kept
    in the benchmark's extra_info, so --benchmark-json has them)."""
    stats = benchmark.stats.stats
    rates = {
        "ops_per_round": ops_per_round,
        "ops_per_s_median": ops_per_round / stats.median,
        "ops_per_s_best": ops_per_round / stats.min,
    }
    benchmark.extra_info.update(rates)
    return rates


def _model_ratios() -> None:
    """engine / model for every workload both ran (names ending in
    " (engine)" and " (model)")."""
    for name, model in list(FIGURES.items()):
        if not name.endswith(MODEL_SUFFIX):
            continue
        workload = name.removesuffix(MODEL_SUFFIX)
        engine = FIGURES.get(workload + ENGINE_SUFFIX)
        if engine is not None:
            record(
                Figure(
                    f"engine / model, {workload}",
                    engine.value / model.value,
                    "x",
                    target=MODEL_RATIO_TARGET,
                    note="median over median",
                )
            )


def _fmt(value: float, unit: str) -> str:
    formats = {
        "ops/s": f"{value:,.0f} ops/s",
        "x": f"{value:.1f}x",
        "B": f"{value:,.0f} bytes",
        "ms": f"{value:,.3f} ms",
        "s": f"{value:.3f} s",
    }
    return formats.get(unit, f"{value:g} {unit}")


def lines() -> list[str]:
    _model_ratios()
    out = []
    for figure in FIGURES.values():
        target = ""
        if figure.target is not None:
            sign = ">=" if figure.higher_is_better else "<="
            target = f"target {sign} {_fmt(figure.target, figure.unit)}"
        line = f"{figure.name:<48} {_fmt(figure.value, figure.unit):>20}  {target:<28} "
        line += figure.verdict()
        if figure.note:
            line += f"  [{figure.note}]"
        out.append(line.rstrip())
    return out
