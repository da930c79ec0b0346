"""One run: parse, set up stock, read the starting figures, drive the load,
check, report; the exit code says whether the checks passed."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

import grpc

from holdfast.loadtest import checks, ops, report, scenarios
from holdfast.loadtest.drive import Driver
from holdfast.loadtest.options import Settings
from holdfast.loadtest.stats import Stats
from holdfast.loadtest.wire import Wire
from holdfast.v1 import inventory_pb2 as pb

CONNECT_TIMEOUT_S = 10.0
SETUP_BATCH = 1000


class SetupError(Exception):
    pass


def main(settings: Settings) -> int:
    try:
        return asyncio.run(run(settings))
    except SetupError as e:
        print(f"holdfast loadtest: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def set_up(settings: Settings, wire: Wire) -> None:
    """SetStock every SKU of the scenario at the load test's location."""
    sequence = scenarios.source_sequence_base()
    names = scenarios.sku_names(settings)
    for start in range(0, len(names), SETUP_BATCH):
        batch = [
            ops.Op(
                ops.KINDS["set_stock"],
                pb.SetStockRequest(
                    idempotency_key=f"{settings.run_id}-setup-{sku}",
                    sku=sku,
                    location=settings.location,
                    on_hand=settings.stock,
                    source_sequence=sequence,
                    as_of=scenarios.now_timestamp(),
                ),
            )
            for sku in names[start : start + SETUP_BATCH]
        ]
        for op, outcome in zip(batch, await wire.batch(batch), strict=True):
            if outcome.status != ops.OK:
                raise SetupError(f"SetStock {op.request.sku} failed: {outcome.reason}")


async def run(settings: Settings) -> int:
    started_at = datetime.now(UTC)
    wire = Wire(settings.targets, settings.tenant, settings.timeout)
    try:
        try:
            await wire.wait_ready(CONNECT_TIMEOUT_S)
        except TimeoutError as e:
            raise SetupError(f"cannot reach {', '.join(settings.targets)}") from e
        if settings.setup:
            await set_up(settings, wire)
        skus = scenarios.sku_names(settings)
        try:
            at_start = await wire.availability(skus)
        except grpc.RpcError as e:
            raise SetupError(f"GetAvailability failed: {ops.from_rpc_error(e).reason}") from e
        missing = sorted(set(skus) - {p.sku for p in at_start})
        if missing:
            raise SetupError(f"{len(missing)} SKU(s) have no stock position, e.g. {missing[0]}")
        location = settings.location if settings.setup else ""
        scenario = scenarios.make(settings, location)
        stats = Stats()
        replays = checks.Replays()
        driver = Driver(settings, wire, scenario, stats, replays)
        await driver.run()
        verdict = await final_checks(settings, wire, scenario, driver, replays, at_start)
    finally:
        await wire.close()
    result = report.figures(settings, stats, verdict, started_at)
    if settings.json_path:
        with open(settings.json_path, "w") as out:
            json.dump(result, out, indent=2)
            out.write("\n")
    if settings.plot_path:
        from holdfast.loadtest import plot

        plot.write(result, settings.plot_path)
    print(report.table(result), flush=True)
    return 0 if verdict["passed"] else 1


async def final_checks(
    settings: Settings,
    wire: Wire,
    scenario: scenarios.Scenario,
    driver: Driver,
    replays: checks.Replays,
    at_start: list[pb.StockPosition],
) -> dict[str, Any]:
    problems: list[str] = []
    try:
        at_end = await wire.availability(scenario.skus)
    except grpc.RpcError as e:
        at_end = []
        problems.append(f"could not read availability at the end: {ops.from_rpc_error(e).reason}")
    oversold = sorted(set(driver.watch_violations + checks.oversold(at_end)))
    problems += oversold
    baseline = checks.available_by_sku(at_start)
    accepted: dict[str, Any] = {
        "checked": not scenario.returns_stock,
        "units": sum(scenario.accepted.values()),
        "available_at_start": sum(baseline.values()),
        "over": [],
        "why_not": "holds are released and expire, giving units back"
        if scenario.returns_stock
        else "",
    }
    if not scenario.returns_stock:
        accepted["over"] = checks.over_accepted(scenario.accepted, baseline)
        problems += accepted["over"]
    for op, original in replays.sample:
        replays.judge(op, original, await wire.unary(op))
    problems += [
        f"replay of {m['operation']} {m['idempotency_key']}: {m['original']} then {m['replay']}"
        for m in replays.mismatches
    ]
    return {
        "passed": not problems,
        "problems": problems,
        "oversold": oversold,
        "positions_read": len(at_end),
        "watch_reads": driver.watch_reads,
        "watch_failures": driver.watch_failures,
        "accepted": accepted,
        "replays": replays.as_json(),
    }
