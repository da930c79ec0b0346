"""Compaction after each snapshot: events go only when both covered by the
latest snapshot and older than the audit retention; older snapshots go."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
from holdfast.v1 import inventory_pb2 as pb
from store_support import Server, reserve, set_stock, unique, wait_until

RETENTION_S = 2.0


def test_events_inside_the_audit_retention_are_kept(tmp_path: Path) -> None:
    server = Server(tmp_path, "--snapshot-every-events", "2")  # default retention: 30 days
    server.start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            sku = unique("sku")
            stub.SetStock(set_stock(sku, 10))
            for _ in range(9):
                stub.Reserve(reserve(sku))
        conn = server.read()
        (count, first, _last) = conn.execute(
            "SELECT count(*), min(seq), max(seq) FROM events"
        ).fetchone()
        assert (count, first) == (10, 1)
        # Many snapshots were taken; only the latest is kept.
        assert wait_until(
            lambda: conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 1,
            what="older snapshots to go",
        )
    finally:
        server.kill()


def test_events_past_the_retention_and_before_the_snapshot_are_deleted(tmp_path: Path) -> None:
    server = Server(
        tmp_path,
        "--audit-retention-days",
        str(RETENTION_S / 86_400),
        "--snapshot-interval-seconds",
        "0.5",
        "--snapshot-every-events",
        "0",
    )
    server.start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10))
            old = stub.Reserve(reserve(sku)).reservation.reservation_id
            time.sleep(RETENTION_S + 0.5)
            recent = stub.Reserve(reserve(sku)).reservation.reservation_id
        conn = server.read()

        def events_of(rid: str) -> int:
            query = "SELECT count(*) FROM events WHERE reservation_id = ?"
            return int(conn.execute(query, (rid,)).fetchone()[0])

        def compacted() -> bool:
            (snapshot,) = conn.execute("SELECT max(seq) FROM snapshots").fetchone()
            (last,) = conn.execute("SELECT max(seq) FROM events").fetchone()
            return snapshot == last and events_of(old) == 0

        wait_until(compacted, what="the old events to be compacted")
        # Covered by the snapshot but inside the retention: still there.
        assert events_of(recent) == 1
        orphans = "SELECT count(*) FROM event_skus WHERE seq NOT IN (SELECT seq FROM events)"
        assert conn.execute(orphans).fetchone()[0] == 0
        # And the state is whole: a restart from the snapshot knows both holds.
        server.kill()
        server.start()
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            for rid in (old, recent):
                view = stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))
                assert view.reservation_id == rid
    finally:
        server.kill()
