"""Start-up time with 1,000,000 journal events after the last snapshot (target <= 10 s).

    .venv/bin/python benchmarks/durability/startup_time.py [--events 1000000] [--runs 3]

Builds the database fast, without a server: an Engine is driven directly
(reserves, then releases of half of them), its journal drained and written
with the store's own functions (``holdfast.store.sqlite.append``), a
snapshot first (of the stocked engine) so that every generated event comes
after the last snapshot. Then, for each run, a pristine copy of that file is
served (``python -m holdfast serve --database COPY``) and timed from launch
until grpc.health.v1 says SERVING; the server's own start-up log line is
printed beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers
from holdfast import Engine, clock
from holdfast.store import sqlite

TENANT = "default"
SKUS = [f"START-{n:03d}" for n in range(100)]
LOCATION = "L1"
BATCH = 10_000


def build(path: Path, events: int) -> int:
    """A database with a snapshot and then ``events`` (or a few more) events."""
    engine = Engine()
    conn = sqlite.connect(str(path), "OFF")
    now = clock.now_ms()
    for n, sku in enumerate(SKUS):
        engine.set_stock(TENANT, f"stock-{n}", "bench", now, sku, LOCATION, 10**12, 1, None)
    first = engine.drain_journal()
    seq = engine.next_seq - 1
    sqlite.append(conn, first, now, snapshot=(seq, now, engine.snapshot()))
    written = 0
    serial = 0
    while written < events:
        items = []
        for _ in range(BATCH // 2):
            serial += 1
            sku = SKUS[serial % len(SKUS)]
            items.append(
                ("reserve", TENANT, f"r-{serial}", "bench", now, f"o-{serial}", "",
                 [(sku, LOCATION, 1)], 0, False)
            )  # fmt: skip
        outcomes = engine.execute_batch(items)
        releases = [
            ("release", TENANT, f"x-{i}-{serial}", "bench", now, o.reservation_id, "")
            for i, o in enumerate(outcomes)
            if o.reservation_id is not None and i % 2 == 0
        ]
        engine.execute_batch(releases)
        journal = engine.drain_journal()
        sqlite.append(conn, journal, now)
        written += len(journal)
    conn.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--server-core", type=int, default=-1, help="pin the server (-1: no)")
    parser.add_argument("--workdir", type=Path, default=None)
    options = parser.parse_args(argv)

    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="holdfast-startup-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pristine = workdir / "pristine.db"
    began = time.monotonic()
    written = build(pristine, options.events)
    size_mb = pristine.stat().st_size / 2**20
    print(
        f"built {written:,} events after the snapshot in {time.monotonic() - began:.1f} s "
        f"({size_mb:.0f} MiB)",
        flush=True,
    )
    core = None if options.server_core < 0 else options.server_core
    times = []
    for run in range(1, options.runs + 1):
        copy = workdir / f"run-{run}.db"
        shutil.copyfile(pristine, copy)
        port = servers.free_port()
        argv_ = [
            *servers.pin_prefix(core), servers.PYTHON, "-m", "holdfast", "serve",
            "--listen", f"127.0.0.1:{port}", "--database", str(copy),
        ]  # fmt: skip
        log = workdir / f"run-{run}.log"
        launched = time.monotonic()
        server = servers.Server(argv_, log, port)
        try:
            server.wait_serving(poll=0.005)
            elapsed = time.monotonic() - launched
        finally:
            server.stop()
        times.append(elapsed)
        startup_lines = [
            line
            for line in log.read_text().splitlines()
            if "replay" in line.lower() or "start" in line.lower()
        ]
        print(f"run {run}: SERVING after {elapsed:.2f} s", flush=True)
        for line in startup_lines[:3]:
            try:
                print(f"    {json.loads(line)}")
            except ValueError:
                print(f"    {line}")
        copy.unlink()
    print(
        f"start-up with {written:,} events after the last snapshot: "
        f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s "
        f"(target <= 10 s)"
    )
    if options.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
