"""The end of a run: the table on stdout and the JSON figures."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from typing import Any

from holdfast.loadtest import ops
from holdfast.loadtest.options import Settings
from holdfast.loadtest.stats import Stats, percentiles_ms


def figures(
    settings: Settings, stats: Stats, checks: dict[str, Any], started_at: datetime
) -> dict[str, Any]:
    elapsed = stats.elapsed
    outcomes: dict[str, dict[str, int]] = {ops.OK: {}, ops.REFUSED: {}, ops.ERROR: {}}
    for (status, reason), n in sorted(stats.outcomes.items()):
        outcomes.setdefault(status, {})[reason] = n
    by_operation: dict[str, Any] = {}
    for (kind, status, reason), n in sorted(stats.kind_outcomes.items()):
        entry = by_operation.setdefault(kind, {"outcomes": {}})
        entry["outcomes"][f"{status}:{reason}"] = n
    by_call = {
        kind: {"calls": h.get_total_count(), "latency_ms": percentiles_ms(h)}
        for kind, h in sorted(stats.by_kind.items())
    }
    return {
        "tool": "holdfast loadtest",
        "started_at": started_at.isoformat(timespec="milliseconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "settings": {**settings.as_json(), "mode": settings.mode},
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "measured_seconds": elapsed,
        "calls": stats.calls,
        "operations": stats.operations,
        "calls_per_s": stats.calls / elapsed if elapsed else 0.0,
        "operations_per_s": stats.operations / elapsed if elapsed else 0.0,
        "latency_ms": percentiles_ms(stats.latency),
        "latency_by_call": by_call,
        "outcomes": outcomes,
        "refused": stats.count(ops.REFUSED),
        "errors": stats.count(ops.ERROR),
        "by_operation": by_operation,
        "series": stats.series(),
        "checks": checks,
    }


def table(result: dict[str, Any]) -> str:
    s = result["settings"]
    lat = result["latency_ms"]
    loop = (
        f"open loop at {s['rate']:g} calls/s"
        if s["rate"] is not None
        else f"closed loop, {s['concurrency']} callers"
    )
    batch = f"batches of {s['batch']}" if s["batch"] else "unary"
    lines = [
        f"holdfast loadtest: {s['scenario']}, {loop}, {batch},"
        f" {result['measured_seconds']:.1f} s measured after {s['warmup']:g} s warm-up,"
        f" {len(s['targets'])} target(s), {result['machine']['cpu_count']} CPUs",
        "",
        f"{'CALLS':>10}  {'CALLS/S':>10}  {'OPS/S':>10}  {'P50 MS':>8}  {'P90 MS':>8}"
        f"  {'P99 MS':>8}  {'P99.9 MS':>8}  {'MAX MS':>8}",
        f"{result['calls']:>10,}  {result['calls_per_s']:>10,.0f}"
        f"  {result['operations_per_s']:>10,.0f}  {lat['p50']:>8.2f}  {lat['p90']:>8.2f}"
        f"  {lat['p99']:>8.2f}  {lat['p99.9']:>8.2f}  {lat['max']:>8.2f}",
        "",
        f"{'OUTCOME':<8}  {'REASON':<28}  {'COUNT':>10}  {'SHARE':>6}",
    ]
    total = sum(sum(v.values()) for v in result["outcomes"].values()) or 1
    for status in (ops.OK, ops.REFUSED, ops.ERROR):
        for reason, n in result["outcomes"].get(status, {}).items():
            lines.append(f"{status:<8}  {reason:<28}  {n:>10,}  {n / total:>6.1%}")
    if not any(result["outcomes"].values()):
        lines.append("(no calls completed)")
    c = result["checks"]
    lines += ["", f"checks: {'PASSED' if c['passed'] else 'FAILED'}"]
    lines.append(
        f"  oversold positions: {len(c['oversold'])} (read {c['positions_read']} positions"
        f" at the end, {c['watch_reads']} times as it went)"
    )
    if c["accepted"]["checked"]:
        a = c["accepted"]
        lines.append(
            f"  accepted units: {a['units']:,} of {a['available_at_start']:,}"
            f" available at the start; over: {len(a['over'])}"
        )
    else:
        lines.append(f"  accepted units: not checked ({c['accepted']['why_not']})")
    r = c["replays"]
    lines.append(
        f"  replays: {r['matched']} of {r['sent']} matched, {r['mismatches']} mismatched,"
        f" {r['undecided']} undecided"
    )
    for problem in c["problems"][:10]:
        lines.append(f"  ! {problem}")
    return "\n".join(lines)
