"""The one place the service reads a clock.

The core reads none: every decision is given ``now`` from here, so a test or
a replay can reason about time as data. Durations (call latency, drain) use
the monotonic clock, which never jumps when the wall clock is set.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """The wall clock as unix milliseconds: the ``now`` of every decision."""
    return time.time_ns() // 1_000_000


def monotonic_s() -> float:
    """Seconds on a clock that only moves forward, for measuring durations."""
    return time.monotonic()
