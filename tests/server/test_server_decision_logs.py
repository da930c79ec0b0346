"""Decisions in the log, over a real server: at INFO one JSON line per decided
operation of a batch (its index, kind, reservation, key, reason and rule
version, under the caller's request id, tenant and actor) beside the call's
own line, and one per hold a decision expired before deciding; at WARNING
none of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from polling import until
from server_support import ServerProcess, ts, unique

BATCH = "/holdfast.v1.InventoryService/ExecuteBatch"


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start a server at a log level; stopped (exit 0) after the test."""
    started: list[ServerProcess] = []

    def start(level: str, *extra: str) -> ServerProcess:
        server = ServerProcess.on_free_port(tmp_path / f"{level}.log", "--log-level", level, *extra)
        started.append(server.start())
        server.wait_serving()
        return server

    yield start
    for server in started:
        assert server.stop() == 0, server.log_text()


def _batch(server: ServerProcess, request_id: str) -> tuple[pb.BatchResponse, list[str]]:
    """Count 5 units, hold 3 of them, ask for 3 more (refused): the answer
    and the operations' idempotency keys."""
    sku = unique("logged")
    keys = [unique("count"), unique("hold"), unique("short")]
    operations = [
        pb.Operation(
            set_stock=pb.SetStockRequest(
                idempotency_key=keys[0],
                sku=sku,
                location="DC1",
                on_hand=5,
                source_sequence=1,
                as_of=ts(1_700_000_000),
            )
        ),
        pb.Operation(
            reserve=pb.ReserveRequest(
                idempotency_key=keys[1], lines=[pb.LineRequest(sku=sku, quantity=3)]
            )
        ),
        pb.Operation(
            reserve=pb.ReserveRequest(
                idempotency_key=keys[2], lines=[pb.LineRequest(sku=sku, quantity=3)]
            )
        ),
    ]
    metadata = (
        ("x-request-id", request_id),
        ("x-holdfast-tenant", "shop-9"),
        ("x-holdfast-actor", "carol"),
    )
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        answer = stub.ExecuteBatch(
            pb.BatchRequest(operations=operations), metadata=metadata, timeout=30
        )
    return answer, keys


def test_each_decision_of_a_batch_has_its_line(serve: Any) -> None:
    server = serve("INFO")
    request_id = unique("req")
    answer, keys = _batch(server, request_id)
    stocked, held, _ = answer.results
    reservation_id = held.reserve.reservation.reservation_id
    rule_version = held.reserve.decision.rule_version
    assert reservation_id
    assert rule_version

    def logged() -> list[dict[str, Any]] | None:
        # The call's line is written as the call ends, just after its answer.
        found = [r for r in server.log_records() if r.get("request_id") == request_id]
        return found if any(r.get("msg") == "call" for r in found) else None

    records = until(logged, "the batch's call line")
    decisions = [r for r in records if r.get("msg") == "decision"]
    facts = [
        (
            r["operation"],
            r["kind"],
            r["reservation_id"],
            r["idempotency_key"],
            r["reason"],
            r["rule_version"],
        )
        for r in decisions
    ]
    assert facts == [
        (0, "set_stock", "", keys[0], "STOCK_SET", stocked.stock.decision.rule_version),
        (1, "reserve", reservation_id, keys[1], "RESERVED", rule_version),
        (2, "reserve", "", keys[2], "INSUFFICIENT_STOCK", rule_version),
    ]
    for record in decisions:
        assert record["level"] == "INFO"
        assert record["method"] == BATCH
        assert (record["tenant"], record["actor"]) == ("shop-9", "carol")
        assert record["replayed"] is False
    # The call's own line is kept.
    (call,) = [r for r in records if r.get("msg") == "call"]
    assert (call["method"], call["code"]) == (BATCH, "OK")


def test_no_decision_lines_below_info(serve: Any) -> None:
    server = serve("WARNING")
    request_id = unique("req")
    answer, _ = _batch(server, request_id)
    assert [r.WhichOneof("result") for r in answer.results] == ["stock", "reserve", "error"]
    assert server.stop() == 0, server.log_text()
    records = server.log_records()
    assert not [r for r in records if r.get("msg") in ("decision", "call")], records
    assert not [r for r in records if r.get("request_id") == request_id], records


def test_a_hold_a_decision_expires_has_its_line(serve: Any) -> None:
    """With the sweeper asleep, the next decision expires the due hold first:
    that expiry is logged too, with its tenant and rule version."""
    server = serve("INFO", "--sweep-interval", "3600")
    sku, other = unique("expiring"), unique("other")
    metadata = (("x-holdfast-tenant", "shop-7"),)
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        for name in (sku, other):
            stub.SetStock(
                pb.SetStockRequest(
                    idempotency_key=unique("count"),
                    sku=name,
                    location="DC1",
                    on_hand=1_000,
                    source_sequence=1,
                    as_of=ts(1),
                ),
                timeout=10,
            )
        held = stub.Reserve(
            pb.ReserveRequest(
                idempotency_key=unique("hold"),
                lines=[pb.LineRequest(sku=sku, quantity=2)],
                hold_seconds=1,
            ),
            metadata=metadata,
            timeout=10,
        )
        rid = held.reservation.reservation_id

        def expired_by_a_decision() -> dict[str, Any] | None:
            stub.Reserve(
                pb.ReserveRequest(
                    idempotency_key=unique("next"), lines=[pb.LineRequest(sku=other, quantity=1)]
                ),
                timeout=10,
            )
            lines = [
                r
                for r in server.log_records()
                if r.get("msg") == "hold expired" and r.get("reservation_id") == rid
            ]
            return lines[0] if lines else None

        line = until(expired_by_a_decision, "the expiry's line", every=0.2)
    assert line["level"] == "INFO"
    assert (line["tenant"], line["reason"]) == ("shop-7", "HOLD_EXPIRED")
    assert line["rule_version"] == held.decision.rule_version
