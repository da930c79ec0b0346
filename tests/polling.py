"""Waiting for something a real process will do, with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Generous for a shared 2-core machine.
WAIT_S = 30.0


def until(
    probe: Callable[[], T | None], what: str = "it", timeout: float = WAIT_S, every: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something other than None (or fail)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout} s for {what}")
        time.sleep(every)
