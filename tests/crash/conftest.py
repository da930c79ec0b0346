"""Fixtures for the crash tests: a seed that is printed, so a failure can be rerun.

Set HOLDFAST_CRASH_SEED to repeat a run's random choices (kill moments,
driver's requests); the seed used is shown in the test's output.
"""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def crash_seed() -> int:
    given = os.environ.get("HOLDFAST_CRASH_SEED")
    seed = int(given) if given else random.randrange(2**32)
    print(f"HOLDFAST_CRASH_SEED={seed}")
    return seed
