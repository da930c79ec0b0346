"""Decision log lines, over a real server: at INFO each decision's call line
carries its reservation, key, reason, rule version, actor, tenant, duration
and the caller's request id, and never the metadata as a whole (a token the
caller sent stays out of the log); at WARNING the lines are not written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest
from bp_support import WAIT_S, Holdfast, reserve, set_stock, unique

RESERVE = "/holdfast.v1.InventoryService/Reserve"
SECRET = "Bearer s3cret-token-never-logged"


def _metadata(request_id: str) -> tuple[tuple[str, str], ...]:
    return (
        ("x-request-id", request_id),
        ("x-holdfast-tenant", "shop-7"),
        ("x-holdfast-actor", "alice"),
        ("authorization", SECRET),
    )


def _decide(server: Holdfast) -> tuple[str, str, str, str]:
    """One accepted and one rejected Reserve: (reservation id, its key,
    the rejection's key, the rule version)."""
    sku = unique("sku")
    accepted_key, rejected_key = unique("cart"), unique("cart")
    with grpc.insecure_channel(server.target) as channel:
        stub = server.stub(channel)
        stub.SetStock(set_stock(sku, 5), metadata=_metadata("req-count"), timeout=WAIT_S)
        answer = stub.Reserve(
            reserve(sku, accepted_key, 2), metadata=_metadata("req-accepted"), timeout=WAIT_S
        )
        with pytest.raises(grpc.RpcError):
            stub.Reserve(
                reserve(sku, rejected_key, 50), metadata=_metadata("req-rejected"), timeout=WAIT_S
            )
    rule_version = answer.decision.rule_version
    return answer.reservation.reservation_id, accepted_key, rejected_key, rule_version


def _line(records: list[dict[str, Any]], request_id: str) -> dict[str, Any]:
    found = [r for r in records if r.get("msg") == "call" and r.get("request_id") == request_id]
    assert len(found) == 1, records
    return found[0]


def test_decisions_are_logged_with_their_facts_at_info(tmp_path: Path) -> None:
    server = Holdfast(tmp_path, "--log-level", "INFO").start()
    try:
        reservation_id, key, rejected_key, rule_version = _decide(server)
    finally:
        assert server.stop() == 0, server.log_text()
    records = server.log_records()
    accepted = _line(records, "req-accepted")
    assert accepted["method"] == RESERVE
    assert accepted["code"] == "OK"
    assert accepted["reason"] == "RESERVED"
    assert accepted["reservation_id"] == reservation_id
    assert accepted["idempotency_key"] == key
    assert accepted["rule_version"] == rule_version != ""
    assert accepted["actor"] == "alice"
    assert accepted["tenant"] == "shop-7"
    assert isinstance(accepted["duration_ms"], float | int)
    assert accepted["duration_ms"] >= 0
    rejected = _line(records, "req-rejected")
    assert rejected["code"] == "FAILED_PRECONDITION"
    assert rejected["reason"] == "INSUFFICIENT_STOCK"
    assert rejected["idempotency_key"] == rejected_key
    assert rejected["rule_version"] == rule_version
    assert SECRET not in server.log_text()
    assert "s3cret" not in server.log_text()


def test_no_call_lines_below_their_level(tmp_path: Path) -> None:
    server = Holdfast(tmp_path, "--log-level", "WARNING").start()
    try:
        _decide(server)
    finally:
        assert server.stop() == 0, server.log_text()
    records = server.log_records()
    assert not [r for r in records if r.get("msg") == "call"], records
    assert all(r["level"] in ("WARNING", "ERROR", "CRITICAL") for r in records), records
