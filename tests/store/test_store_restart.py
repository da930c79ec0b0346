"""Restarts over a real file: what was acknowledged is there afterwards,
whether the server stopped gracefully (and wrote a snapshot) or was killed
(and replays the journal after the latest snapshot)."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from store_support import Server, reserve, set_stock, unique, wait_until, without_as_of


def _drive(stub: object, skus: list[str]) -> dict[str, object]:
    """A little of everything: counts, holds, allocations, releases, a refusal."""
    s = stub  # InventoryServiceStub
    answers: dict[str, object] = {"reservations": []}
    for sku in skus:
        s.SetStock(set_stock(sku, 10))  # type: ignore[attr-defined]
    for index, sku in enumerate(skus):
        held = s.Reserve(reserve(sku, 2, key=f"hold-{sku}"))  # type: ignore[attr-defined]
        rid = held.reservation.reservation_id
        answers["reservations"].append(rid)  # type: ignore[union-attr]
        if index % 3 == 1:
            s.Allocate(pb.AllocateRequest(idempotency_key=f"alloc-{sku}", reservation_id=rid))  # type: ignore[attr-defined]
        elif index % 3 == 2:
            s.Release(pb.ReleaseRequest(idempotency_key=f"rel-{sku}", reservation_id=rid))  # type: ignore[attr-defined]
    return answers


def _state(stub: object, reservations: list[str]) -> tuple[object, list[object]]:
    availability = without_as_of(stub.GetAvailability(pb.GetAvailabilityRequest()))  # type: ignore[attr-defined]
    views = [
        stub.GetReservation(pb.GetReservationRequest(reservation_id=rid))  # type: ignore[attr-defined]
        for rid in reservations
    ]
    return availability, views


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_restart_keeps_reservations_history_and_idempotency_keys(tmp_path: Path, stop: str) -> None:
    # Snapshots every few events, so a start-up restores one and replays the rest.
    server = Server(tmp_path, "--snapshot-every-events", "7")
    server.start()
    try:
        skus = [unique("sku") for _ in range(6)]
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            answers = _drive(stub, skus)
            reservations: list[str] = answers["reservations"]  # type: ignore[assignment]
            before = _state(stub, reservations)
            first_reserve = stub.Reserve(reserve(skus[0], 2, key=f"hold-{skus[0]}"))
        if stop == "SIGKILL":
            server.kill()
        else:
            assert server.stop() == 0
        server.start()
        started = server.record("holdfast listening")
        assert started["state"] == "sqlite"
        assert started["snapshot_seq"] > 0
        if stop == "SIGTERM":
            # The shutdown snapshot covers everything: nothing to replay.
            assert started["replayed_events"] == 0
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            after = _state(stub, reservations)
            assert after == before
            # A replay after the restart: the same outcome, marked replayed.
            again = stub.Reserve(reserve(skus[0], 2, key=f"hold-{skus[0]}"))
            assert again.decision.replayed
            assert again.reservation.reservation_id == first_reserve.reservation.reservation_id
            assert again.decision.reason == first_reserve.decision.reason
            assert len(after[1][0].history) >= 1  # type: ignore[attr-defined]
    finally:
        server.kill()


def test_a_hold_expires_on_time_after_a_restart(tmp_path: Path) -> None:
    server = Server(tmp_path)
    server.start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 5))
            held = stub.Reserve(reserve(sku, 5, hold=2))
            expires = held.reservation.expires_at.seconds
        server.kill()
        server.start()
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            request = pb.GetReservationRequest(reservation_id=held.reservation.reservation_id)
            view = stub.GetReservation(request)
            assert view.expires_at.seconds == expires
            if time.time() < expires:
                assert view.state == held.reservation.state

            def available() -> bool:
                answer = stub.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]))
                return bool(answer.positions[0].available == 5)

            wait_until(available, timeout=30, what="the hold to expire")
            assert stub.GetReservation(request).state != held.reservation.state
    finally:
        server.kill()


def test_graceful_shutdown_writes_a_snapshot_of_every_event(tmp_path: Path) -> None:
    server = Server(tmp_path, "--snapshot-interval-seconds", "0", "--snapshot-every-events", "0")
    server.start()
    try:
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            sku = unique("sku")
            stub.SetStock(set_stock(sku, 3))
            stub.Reserve(reserve(sku))
        conn = server.read()
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
        assert server.stop() == 0
        (snapshot_seq,) = conn.execute("SELECT max(seq) FROM snapshots").fetchone()
        (last_event,) = conn.execute("SELECT max(seq) FROM events").fetchone()
        assert snapshot_seq == last_event
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        server.kill()
