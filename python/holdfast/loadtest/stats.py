"""What a run measured: latency in HDR histograms (microseconds), overall and
per second, and outcomes counted by status and reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

from holdfast.loadtest import ops

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def histogram(significant_figures: int = 3) -> Any:
    return HdrHistogram(LOWEST_US, HIGHEST_US, significant_figures)


def percentiles_ms(h: Any) -> dict[str, float]:
    """p50/p90/p99/p99.9, min, mean and max in milliseconds (0 when empty)."""
    if h.get_total_count() == 0:
        return {
            "p50": 0.0,
            "p90": 0.0,
            "p99": 0.0,
            "p99.9": 0.0,
            "min": 0.0,
            "mean": 0.0,
            "max": 0.0,
        }
    figures = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    figures["min"] = h.get_min_value() / 1000
    figures["mean"] = h.get_mean_value() / 1000
    figures["max"] = h.get_max_value() / 1000
    return figures


@dataclass
class Second:
    calls: int = 0
    operations: int = 0
    latency: Any = field(default_factory=lambda: histogram(2))


class Stats:
    """Counts what completes while measuring; ``start`` opens the window."""

    def __init__(self) -> None:
        self.latency = histogram()
        self.by_kind: dict[str, Any] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.kind_outcomes: Counter[tuple[str, str, str]] = Counter()
        self.seconds: list[Second] = []
        self.calls = 0
        self.operations = 0
        self.started: float | None = None  # perf_counter when measuring began
        self.ended: float | None = None

    def start(self, at: float) -> None:
        self.started = at

    def stop(self, at: float) -> None:
        self.ended = at

    @property
    def elapsed(self) -> float:
        if self.started is None or self.ended is None:
            return 0.0
        return max(self.ended - self.started, 1e-9)

    def record_call(self, kind: str, sent: float, done: float, operations: int) -> None:
        """One call sent (or due, open loop) at ``sent`` and answered at ``done``."""
        micros = max(int((done - sent) * 1_000_000), LOWEST_US)
        self.latency.record_value(micros)
        per_kind = self.by_kind.get(kind)
        if per_kind is None:
            per_kind = self.by_kind[kind] = histogram(2)
        per_kind.record_value(micros)
        self.calls += 1
        self.operations += operations
        assert self.started is not None
        index = max(int(done - self.started), 0)
        while len(self.seconds) <= index:
            self.seconds.append(Second())
        second = self.seconds[index]
        second.calls += 1
        second.operations += operations
        second.latency.record_value(micros)

    def record_outcome(self, kind: str, outcome: ops.Outcome) -> None:
        self.outcomes[(outcome.status, outcome.reason)] += 1
        self.kind_outcomes[(kind, outcome.status, outcome.reason)] += 1

    def count(self, status: str) -> int:
        return sum(n for (s, _), n in self.outcomes.items() if s == status)

    def series(self) -> list[dict[str, Any]]:
        """Per whole second of the window: calls, operations and percentiles."""
        whole = int(self.elapsed) if self.elapsed >= 1 else len(self.seconds)
        rows = []
        for i, second in enumerate(self.seconds[: max(whole, 1)]):
            figures = percentiles_ms(second.latency)
            rows.append(
                {
                    "second": i,
                    "calls": second.calls,
                    "operations": second.operations,
                    **{f"{k}_ms": v for k, v in figures.items()},
                }
            )
        return rows
