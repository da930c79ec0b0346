"""The journal breaker's permits, in process: a real Ledger on a real SQLite
file (its writer thread, the group commit) and the process's Breakers with
the time passed in.

Each call decides in a task of its own, as each RPC is served; a permit that
its call never reports (the caller went away while the commit waited, or the
answer could not be built) must come back, or a HALF_OPEN breaker would wait
forever for results that cannot come. Housekeeping and reads take none.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from breaker_support import BREAKER, WriteLock, reserve, set_stock, unique
from holdfast import convert
from holdfast.breakers import JOURNAL, Breakers, parse_overrides
from holdfast.config import Settings
from holdfast.errors import Refusal
from holdfast.ledger import Ledger

TENANT = "default"
ACTOR = "test"
START_MS = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ms = START_MS

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    settings = Settings(database=str(tmp_path / "holdfast.db"), journal_timeout_seconds=10)
    opened = await Ledger.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


async def _call(ledger: Ledger, item: Any) -> None:
    """What a servicer does for one RPC: decide, then wait until durable."""
    ledger.decide(item)
    await ledger.settle()


async def _rpc(ledger: Ledger, item: Any) -> None:
    await asyncio.create_task(_call(ledger, item))


def _reserve(sku: str) -> Any:
    return convert.reserve(reserve(sku, unique("key")), TENANT, ACTOR, int(time.time() * 1000))


async def _until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.01)


async def _half_open(ledger: Ledger, sku: str) -> tuple[Breakers, Clock]:
    """The ledger's breaker, opened by failed journal calls and past its wait."""
    clock = Clock()
    breakers = Breakers(overrides=parse_overrides(BREAKER), now_ms=clock)
    ledger.breakers = breakers
    stock = convert.set_stock(set_stock(sku, 100), TENANT, ACTOR, int(time.time() * 1000))
    await _rpc(ledger, stock)
    while breakers.state(JOURNAL) == "CLOSED":
        breakers.acquire(JOURNAL)
        breakers.failed(JOURNAL, 0.0)
    assert breakers.state(JOURNAL) == "OPEN"
    # Refused before the engine decides: no permit, nothing journaled.
    with pytest.raises(Refusal) as refused:
        await _rpc(ledger, _reserve(sku))
    assert refused.value.facts == {"dependency": JOURNAL, "breaker": JOURNAL, "state": "OPEN"}
    clock.ms += 1500
    breakers.poll()
    assert breakers.state(JOURNAL) == "HALF_OPEN"
    return breakers, clock


async def test_permits_of_calls_that_end_unreported_are_given_back(
    ledger: Ledger, tmp_path: Path
) -> None:
    sku = unique("sku")
    breakers, _ = await _half_open(ledger, sku)

    # Probe 1: its caller goes away while the commit waits for the lock.
    with WriteLock(tmp_path / "holdfast.db"):
        waiting = asyncio.create_task(_call(ledger, _reserve(sku)))
        await _until("the call to wait for its commit", lambda: ledger.store._pending_calls >= 1)  # type: ignore[union-attr]
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    # Probe 2: decided, then the answer could not be built (the RPC fails).
    async def broken() -> None:
        ledger.decide(_reserve(sku))
        raise RuntimeError("the answer could not be built")

    with pytest.raises(RuntimeError):
        await asyncio.create_task(broken())
    # Given back when the call's task has ended (its done callbacks ran).
    await asyncio.sleep(0)

    # Neither reported: both probes are there to be had, and they close it.
    for _ in range(2):
        await _rpc(ledger, _reserve(sku))
    assert breakers.state(JOURNAL) == "CLOSED"
    assert breakers.view(JOURNAL)["buffered_calls"] == 0  # a new window


async def test_reads_and_housekeeping_take_no_permit(ledger: Ledger) -> None:
    sku = unique("sku")
    breakers, _ = await _half_open(ledger, sku)
    # Reads settle only, housekeeping writes without a call: the HALF_OPEN
    # breaker's two probes are untouched.
    now = int(time.time() * 1000)

    async def read() -> None:
        ledger.positions([sku], [], now)
        await ledger.settle()

    for _ in range(3):
        await asyncio.create_task(read())
        ledger.expire_due(now)
        ledger.purge_idempotency(now)
        ledger.snapshot(now)
    await asyncio.create_task(read())
    assert breakers.view(JOURNAL)["buffered_calls"] == 0
    # Two probes: the first reported leaves the breaker HALF_OPEN, the second closes it.
    await _rpc(ledger, _reserve(sku))
    assert breakers.state(JOURNAL) == "HALF_OPEN"
    await _rpc(ledger, _reserve(sku))
    assert breakers.state(JOURNAL) == "CLOSED"
