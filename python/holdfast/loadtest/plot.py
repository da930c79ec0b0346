"""The PNG: throughput and latency percentiles per second (matplotlib, Agg)."""

from __future__ import annotations

from typing import Any


def write(result: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["series"]
    seconds = [row["second"] + 1 for row in series]
    s = result["settings"]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 7))
    top.plot(seconds, [row["calls"] for row in series], label="calls/s", marker=".")
    if s["batch"]:
        top.plot(seconds, [row["operations"] for row in series], label="operations/s", marker=".")
    top.set_ylabel("per second")
    top.set_ylim(bottom=0)
    top.legend(loc="lower right")
    top.grid(alpha=0.3)
    for key, label in (
        ("p50_ms", "p50"),
        ("p90_ms", "p90"),
        ("p99_ms", "p99"),
        ("p99.9_ms", "p99.9"),
    ):
        bottom.plot(seconds, [row[key] for row in series], label=label, marker=".")
    bottom.set_ylabel("latency (ms)")
    bottom.set_xlabel("second of the measured run")
    bottom.set_ylim(bottom=0)
    bottom.legend(loc="upper left")
    bottom.grid(alpha=0.3)
    loop = f"open loop {s['rate']:g}/s" if s["rate"] is not None else f"{s['concurrency']} callers"
    batch = f", batch {s['batch']}" if s["batch"] else ""
    fig.suptitle(f"holdfast loadtest: {s['scenario']}, {loop}{batch}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
