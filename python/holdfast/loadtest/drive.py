"""The loops: closed (N callers, each sending when its last call returned) and
open (calls due at a fixed rate, each timed from when it was due, so a slow
server cannot hide its queueing: no coordinated omission). A warm-up runs
first and is not measured."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from holdfast.loadtest import checks, ops
from holdfast.loadtest.options import Settings
from holdfast.loadtest.scenarios import Scenario
from holdfast.loadtest.stats import Stats
from holdfast.loadtest.wire import Wire

WATCH_INTERVAL_S = 1.0
PROGRESS_INTERVAL_S = 0.25


class Driver:
    def __init__(
        self,
        settings: Settings,
        wire: Wire,
        scenario: Scenario,
        stats: Stats,
        replays: checks.Replays,
    ) -> None:
        self.settings = settings
        self.wire = wire
        self.scenario = scenario
        self.stats = stats
        self.replays = replays
        self.began = 0.0
        self.measure_from = 0.0
        self.measure_until: float | None = None
        self.admitted = 0  # measured calls admitted (--count)
        self.in_flight_measured = 0
        self.watch_violations: list[str] = []
        self.watch_reads = 0
        self.watch_failures = 0
        self._done = asyncio.Event()

    # Which calls are sent, and which are measured.

    def admit(self, due: float) -> bool:
        """May a call due at ``due`` be sent? Counts it when measured."""
        if due < self.measure_from:
            return True
        if self.measure_until is not None:
            return due < self.measure_until
        assert self.settings.count is not None
        if self.admitted >= self.settings.count:
            return False
        self.admitted += 1
        return True

    # One call (unary) or one batch with its reads sent beside it.

    async def issue(self, due: float) -> None:
        measured = due >= self.measure_from
        if measured:
            self.in_flight_measured += 1
        try:
            if self.settings.batch is None:
                await self._unary(self.scenario.next_op(), due, measured)
            else:
                batch = [self.scenario.next_op() for _ in range(self.settings.batch)]
                writes = [op for op in batch if op.kind.mutating]
                reads = [op for op in batch if not op.kind.mutating]
                jobs = [self._unary(op, due, measured) for op in reads]
                if writes:
                    jobs.append(self._batch(writes, due, measured))
                await asyncio.gather(*jobs)
        finally:
            if measured:
                self.in_flight_measured -= 1

    async def _unary(self, op: ops.Op, due: float, measured: bool) -> None:
        outcome = await self.wire.unary(op)
        done = time.perf_counter()
        self._heard(op, outcome)
        if measured:
            self.stats.record_call(op.kind.name, due, done, 1)
            self.stats.record_outcome(op.kind.name, outcome)

    async def _batch(self, batch: list[ops.Op], due: float, measured: bool) -> None:
        outcomes = await self.wire.batch(batch)
        done = time.perf_counter()
        for op, outcome in zip(batch, outcomes, strict=True):
            self._heard(op, outcome)
        if measured:
            self.stats.record_call("batch", due, done, len(batch))
            for op, outcome in zip(batch, outcomes, strict=True):
                self.stats.record_outcome(op.kind.name, outcome)

    def _heard(self, op: ops.Op, outcome: ops.Outcome) -> None:
        self.scenario.on_outcome(op, outcome)
        self.replays.offer(op, outcome)

    # The loops.

    async def run(self) -> None:
        s = self.settings
        self.began = time.perf_counter()
        self.measure_from = self.began + s.warmup
        if s.duration is not None:
            self.measure_until = self.measure_from + s.duration
        self.stats.start(self.measure_from)
        helpers = [asyncio.create_task(self._watch()), asyncio.create_task(self._progress())]
        try:
            if s.rate is None:
                await asyncio.gather(*(self._caller() for _ in range(s.concurrency)))
            else:
                await self._open_loop(s.rate)
        finally:
            end = time.perf_counter()
            if self.measure_until is not None:
                end = max(min(end, self.measure_until), self.measure_from)
            self.stats.stop(end)
            self._done.set()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _caller(self) -> None:
        while True:
            now = time.perf_counter()
            if not self.admit(now):
                return
            await self.issue(now)

    async def _open_loop(self, rate: float) -> None:
        interval = 1.0 / rate
        start = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        i = 0
        while True:
            due = start + i * interval
            wait = due - time.perf_counter()
            # Always yield, even when behind: the calls must run meanwhile.
            await asyncio.sleep(max(wait, 0.0))
            if not self.admit(due):
                break
            task = asyncio.create_task(self.issue(due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
        if pending:
            await asyncio.gather(*pending)

    # Alongside: the oversold check as it goes, and the progress bar.

    async def _watch(self) -> None:
        skus = self.scenario.skus
        while not self._done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), WATCH_INTERVAL_S)
            try:
                positions = await self.wire.availability(skus)
            except Exception:  # counted, not fatal: the final check must read
                self.watch_failures += 1
                continue
            self.watch_reads += 1
            self.watch_violations.extend(checks.oversold(positions))

    async def _progress(self) -> None:
        if self.settings.quiet:
            return
        from tqdm import tqdm  # type: ignore[import-untyped]

        s = self.settings
        counting = s.count is not None
        total: float = float(s.count) if s.count is not None else s.warmup + (s.duration or 0.0)
        bar: Any = tqdm(
            total=total,
            unit="call" if counting else "s",
            desc="warm-up" if s.warmup > 0 else "measure",
            leave=False,
            dynamic_ncols=True,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} {unit}{postfix}",
        )
        try:
            while not self._done.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._done.wait(), PROGRESS_INTERVAL_S)
                now = time.perf_counter()
                if now >= self.measure_from:
                    bar.set_description_str("measure", refresh=False)
                done = self.stats.calls if counting else min(now - self.began, total)
                bar.n = done
                window = max(now - self.measure_from, 1e-9)
                bar.set_postfix_str(
                    f"{self.stats.calls / window:,.0f} calls/s"
                    f" refused {self.stats.count(ops.REFUSED):,}"
                    f" errors {self.stats.count(ops.ERROR):,}"
                    if now >= self.measure_from
                    else "",
                    refresh=True,
                )
        finally:
            bar.close()
