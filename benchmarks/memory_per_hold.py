"""Memory per open hold: resident-set growth of a fresh process for 1,000,000
single-line holds, divided by 1,000,000.

Reproduce (run it directly, so that nothing else in the process moves RSS):
    .venv/bin/python benchmarks/memory_per_hold.py
benchmarks/test_memory.py runs this script in a subprocess under `make bench`.

The engine is created and stock is counted for 1,000 SKUs before the first
reading; then 1,000,000 holds are placed through execute_batch (keys like
"hold-0000001", order refs like "order-0000001", one unit of one of the
1,000 SKUs each), draining the journal after every batch so that no events
pile up, and RSS is read again. The growth covers everything an open hold
costs the engine: the reservation, its idempotency record and key, its order
ref, the index entries and its slot in the expiry heap (with whatever slack
the tables have at this size).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload
from holdfast import Engine

HOLDS = 1_000_000
SKUS = 1_000
BATCH = 1_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def measure(holds: int = HOLDS, skus: int = SKUS, batch: int = BATCH) -> dict[str, float]:
    skus_list = workload.sku_names(skus)
    engine = workload.stocked(Engine(), skus_list, on_hand=1_000_000)
    # Warm the interpreter's allocator with one batch's worth of request
    # tuples and strings that are then dropped, so that the first reading does
    # not miss the (constant) memory Python keeps for building a batch.
    scratch = [("hold", f"warm-{i:07d}", f"order-{i:07d}", [("s", "l", 1)]) for i in range(batch)]
    del scratch
    gc.collect()
    before = rss_bytes()
    workload.place_holds(engine, holds, skus_list, workload.NOW + 1, batch=batch)
    gc.collect()
    after = rss_bytes()
    open_holds = engine.open_holds()
    if open_holds != holds:
        raise AssertionError(f"{open_holds} holds open, expected {holds}")
    return {
        "holds": holds,
        "skus": skus,
        "rss_before": before,
        "rss_after": after,
        "bytes_per_hold": (after - before) / holds,
        "idempotency_keys": engine.idempotency_key_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holds", type=int, default=HOLDS)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args.holds)
    if args.json:
        print(json.dumps(result))
        return
    print(f"holds placed:     {result['holds']:,} over {result['skus']:,} SKUs")
    print(f"RSS before:       {result['rss_before'] / 2**20:,.1f} MiB")
    print(f"RSS after:        {result['rss_after'] / 2**20:,.1f} MiB")
    print(f"bytes per hold:   {result['bytes_per_hold']:,.1f}  (target <= 300)")


if __name__ == "__main__":
    main()
