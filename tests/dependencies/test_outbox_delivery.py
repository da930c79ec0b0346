"""The outbox: committed events appended to the events sink in seq order,
behind the ``events`` breaker. A sink whose directory does not exist fails
every delivery: the breaker opens, commitments go on, nothing is lost, and
once the directory exists delivery resumes from the cursor, across a
restart too; every committed event reaches the sink (once, by seq)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dependencies_harness import Server, breaker_state
from holdfast.client.operations import OperationsClient
from polling import until

BREAKER = (
    "events.minimum_number_of_calls=2,events.sliding_window_size=2,"
    "events.wait_in_open_ms=300,events.permitted_calls_in_half_open=1"
)


def sink_records(sink: Path) -> list[dict[str, Any]]:
    if not sink.exists():
        return []
    return [json.loads(line) for line in sink.read_text().splitlines() if line]


def committed_seq(database: Path) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
        (seq,) = conn.execute("SELECT MAX(seq) FROM events").fetchone()
    return int(seq or 0)


def delivered_up_to(sink: Path, seq: int) -> list[dict[str, Any]] | None:
    records = sink_records(sink)
    return records if {r["seq"] for r in records} >= set(range(1, seq + 1)) else None


def commit_some(client: OperationsClient, reserves: int) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    client.set_stock(sku, "L1", 100, source_sequence=1)
    for _ in range(reserves):
        client.reserve([(sku, "L1", 1)])
    return sku


def test_committed_events_reach_the_sink_in_seq_order(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    sink = tmp_path / "events.jsonl"
    server = start_server("--events-sink", str(sink))
    with server.client() as client:
        sku = commit_some(client, 3)
    last = committed_seq(server.database)
    records = until(lambda: delivered_up_to(sink, last))
    assert [r["seq"] for r in records] == list(range(1, last + 1))
    assert records[0]["kind"] == "stock_counted"
    assert records[0]["event"]["change"]["StockCounted"]["sku"] == sku
    assert {r["kind"] for r in records[1:]} == {"hold_placed"}
    # The cursor moves after the sink's fsync: it follows the lines shortly.
    cursor = tmp_path / "events.jsonl.cursor"
    until(lambda: (cursor.exists() and cursor.read_text().strip() == str(last)) or None)


def test_a_missing_sink_opens_the_breaker_and_delivery_resumes_after_recovery_and_restart(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    directory = tmp_path / "not-yet"
    sink = directory / "events.jsonl"
    server = start_server("--events-sink", str(sink), "--breakers", BREAKER)
    with server.client() as client:
        commit_some(client, 2)
        until(lambda: breaker_state(client, "events") in {"OPEN", "HALF_OPEN"} or None)
        # The sink being down never touches commitments.
        commit_some(client, 3)
        assert not sink.exists()
        directory.mkdir()
        last = committed_seq(server.database)
        until(lambda: delivered_up_to(sink, last))
        until(lambda: breaker_state(client, "events") == "CLOSED" or None)
    # A restart resumes from the cursor; the events of both runs are there.
    assert server.stop() == 0
    server.start()
    with server.client() as client:
        commit_some(client, 2)
    last = committed_seq(server.database)
    records = until(lambda: delivered_up_to(sink, last))
    seqs = [r["seq"] for r in records]
    assert sorted(set(seqs)) == list(range(1, last + 1))
    # At least once: a repeat is only ever a batch delivered again, in order.
    assert seqs == sorted(seqs) or len(seqs) > len(set(seqs))


def test_a_graceful_stop_hands_the_sink_what_was_committed(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    """The sink comes back just before SIGTERM, while the breaker waits 1.5 s
    in OPEN: the delivery task is cancelled at the stop before that wait
    ends, so only the stop's own drain (a probe once the wait is over) can
    deliver what was committed."""
    directory = tmp_path / "late"
    sink = directory / "events.jsonl"
    slow_to_probe = BREAKER.replace("events.wait_in_open_ms=300", "events.wait_in_open_ms=1500")
    server = start_server("--events-sink", str(sink), "--breakers", slow_to_probe)
    with server.client() as client:
        commit_some(client, 3)
        until(lambda: breaker_state(client, "events") == "OPEN" or None)
    last = committed_seq(server.database)
    directory.mkdir()
    assert server.stop() == 0
    assert [r["seq"] for r in sink_records(sink)] == list(range(1, last + 1))
    assert (directory / "events.jsonl.cursor").read_text().strip() == str(last)


def test_compaction_keeps_what_the_sink_has_not_received(
    start_server: Callable[..., Server], tmp_path: Path
) -> None:
    directory = tmp_path / "later"
    sink = directory / "events.jsonl"
    # Every event is past its retention at once, and a snapshot follows every few.
    server = start_server(
        "--events-sink",
        str(sink),
        "--breakers",
        BREAKER,
        "--audit-retention-days",
        "0",
        "--snapshot-every-events",
        "3",
    )
    with server.client() as client:
        commit_some(client, 8)
        last = committed_seq(server.database)
        directory.mkdir()
        records = until(lambda: delivered_up_to(sink, last))
        assert sorted({r["seq"] for r in records}) == list(range(1, last + 1))
        # Once delivered they may go: the next snapshot compacts them away.
        commit_some(client, 3)
        until(lambda: "journal compacted" in server.log_since_start() or None)
