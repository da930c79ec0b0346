"""ListEvents on Redis: one reservation's history, one SKU's events and a
small tenant's events, read through the event indexes against reading the
whole stream.

    .venv/bin/python benchmarks/redis/history.py [--events 50000] [--skus 256]
        [--repeat 5]

One replica on a redis-server this script starts (``tests/redisproc.py``,
appendfsync always). It commits ``--events`` reserves over ``--skus`` SKUs
(ExecuteBatch, 100 a call) as one tenant, then releases the first
reservation, so that its history spans the whole stream, and a second tenant
makes 5 reserves of its own. Then it times, ``--repeat`` times each and
reports the median:

- ``indexed``: ListEvents (every page) of that reservation, of one SKU
  (about events/skus events) and of the second tenant, as the replica
  answers them;
- ``stream``: the same calls after deleting ``{P}:x:from``, which makes the
  replica read the whole stream for them, as it did before the indexes.

Both answers are checked equal. The figures say how the two reads compare
on this machine, one run; they are not a latency objective.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis
from holdfast.client import Client
from holdfast.v1 import inventory_pb2 as pb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "durability"))

import servers  # noqa: E402  (also puts tests/ on the path)
from redisproc import RedisServer  # noqa: E402

PREFIX = "history"
QUIET_RESERVES = 5
LOCATION = "W1"
BATCH = 100


def replica_command(listen: str, redis_url: str) -> list[str]:
    return [
        servers.PYTHON, "-m", "holdfast", "serve", "--listen", listen,
        "--redis-url", redis_url, "--redis-prefix", PREFIX, "--metrics-listen", "",
    ]  # fmt: skip


def fill(client: Client, events: int, skus: list[str]) -> str:
    """Commit ``events`` reserves; the first reservation's id."""
    for sku in skus:
        client.set_stock(sku, LOCATION, 10**12, source_sequence=1)
    first = ""
    made = len(skus)
    while made < events:
        operations = []
        for n in range(min(BATCH, events - made)):
            reserve = pb.ReserveRequest(
                idempotency_key=str(uuid.uuid4()),
                lines=[
                    pb.LineRequest(sku=skus[(made + n) % len(skus)], location=LOCATION, quantity=1)
                ],
                hold_seconds=86_400,
            )
            operations.append(pb.Operation(reserve=reserve))
        answer = client.execute_batch(operations, timeout=300.0)
        first = first or answer.results[0].reserve.reservation.reservation_id
        made += len(operations)
    return first


def every_page(client: Client, **selected: str) -> list[int]:
    sequences: list[int] = []
    token = ""
    while True:
        page = client.list_events(page_token=token, timeout=600.0, **selected)
        sequences += [event.sequence for event in page.events]
        token = page.next_page_token
        if not token:
            return sequences


def timed(client: Client, repeat: int, **selected: str) -> tuple[float, list[int]]:
    """Median seconds of ``repeat`` full listings, and what they listed."""
    seconds = []
    listed: list[int] = []
    for _ in range(repeat):
        started = time.perf_counter()
        listed = every_page(client, **selected)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), listed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--skus", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    skus = [f"HIST-{n:04d}" for n in range(options.skus)]
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        store = RedisServer(workdir / "redis").start()
        port = servers.free_port()
        argv = replica_command(f"127.0.0.1:{port}", store.url)
        replica = servers.Server(argv, workdir / "replica.log", port)
        direct = redis.Redis(host="127.0.0.1", port=store.port)
        try:
            replica.wait_serving()
            with Client(replica.target, tenant="bench", actor="history-bench") as client:
                started = time.perf_counter()
                watched = fill(client, options.events, skus)
                client.release(watched)
                filled = time.perf_counter() - started
            with Client(replica.target, tenant="quiet", actor="history-bench") as quiet:
                quiet.set_stock("QUIET", LOCATION, 100, source_sequence=1)
                for _ in range(QUIET_RESERVES):
                    quiet.reserve([("QUIET", LOCATION, 1)])
            length = direct.xlen("{" + PREFIX + "}:events")
            print(f"stream: {length:,} events (the first {options.events:,} in {filled:.1f} s)")
            results = {}
            with (
                Client(replica.target, tenant="bench") as client,
                Client(replica.target, tenant="quiet") as quiet,
            ):
                for read in ("indexed", "stream"):
                    if read == "stream":
                        direct.delete("{" + PREFIX + "}:x:from")
                    results[read] = (
                        timed(client, options.repeat, reservation_id=watched),
                        timed(client, options.repeat, sku=skus[-1]),
                        timed(quiet, options.repeat),
                    )
        finally:
            direct.close()
            replica.stop()
            store.stop()
    print("| ListEvents of | events listed | through the index | reading the stream | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    whats = ("one reservation", "one SKU", "a tenant of 6 events")
    for what, (indexed, listed), (scanned, read) in zip(
        whats, results["indexed"], results["stream"], strict=True
    ):
        assert listed == read, (what, len(listed), len(read))
        print(
            f"| {what} | {len(listed):,} | {1000 * indexed:.2f} ms | {1000 * scanned:.1f} ms "
            f"| {scanned / indexed:,.0f}x |"
        )
    assert len(results["indexed"][0][1]) == 2  # the reserve and the release
    assert len(results["indexed"][2][1]) == 1 + QUIET_RESERVES


if __name__ == "__main__":
    main()
