"""RunAudit and InjectFault: a consistent server has no differences; an
injected bucket drift is reported exactly, exported as a metric, shown by
`holdfast ctl audit` (exit 1), logged, and never repaired."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from holdfast.client import Client, HoldfastError, InvalidArgument, OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from operations_support import OpsServer, run_ctl, unique
from scrape import eventually, scrape, value

Stock = Callable[[str, str, int], pb.StockResponse]


def test_a_consistent_server_has_no_differences(
    ops: OperationsClient, shop: Client, stock: Stock
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    held = shop.reserve([(sku, "W1", 3)])
    shop.allocate(held.reservation.reservation_id)
    report = ops.run_audit()
    assert list(report.differences) == []
    assert report.positions_checked >= 1
    assert report.audited_at.seconds > 0


def test_fault_injection_is_refused_unless_enabled(ops: OperationsClient, stock: Stock) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    with pytest.raises(HoldfastError) as refused:
        ops.inject_bucket_drift(sku, "W1", "reserved", 1, reason="drill")
    assert refused.value.reason == "PERMISSION_DENIED"
    assert list(ops.run_audit().differences) == []
    logged = ops.list_operator_actions(page_size=1).actions[0]
    assert (logged.action, logged.outcome) == ("fault.bucket_drift", "PERMISSION_DENIED")


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[OpsServer]:
    """A server that allows fault injection, with /metrics, audits only on demand."""
    server = OpsServer(
        tmp_path, "--fault-injection", "--audit-interval-seconds", "0", metrics=True
    ).start()
    try:
        yield server
    finally:
        assert server.stop() == 0


def test_an_injected_drift_is_reported_exactly_and_never_repaired(drill: OpsServer) -> None:
    sku = unique("SKU")
    with OperationsClient(drill.target, actor="ops-carol") as ops:
        ops.set_stock(sku, "W1", 10, source_sequence=1)
        ops.reserve([(sku, "W1", 2)])
        assert list(ops.run_audit().differences) == []
        assert value(scrape(drill.metrics_url), "holdfast_audit_differences") == 0

        ops.inject_bucket_drift(sku, "W1", "reserved", 1, reason="audit drill")
        for _ in range(2):  # a second audit still sees it: nothing was repaired
            report = ops.run_audit()
            assert [
                (d.sku, d.location, d.bucket, d.stored, d.from_lines) for d in report.differences
            ] == [(sku, "W1", "reserved", 3, 2)]
        assert ops.get_availability([sku]).positions[0].reserved == 3

        logged = ops.list_operator_actions(page_size=1).actions[0]
        assert (logged.action, logged.target, logged.reason, logged.outcome, logged.actor) == (
            "fault.bucket_drift",
            f"{sku}@W1",
            "audit drill",
            "OK",
            "ops-carol",
        )

    samples = scrape(drill.metrics_url)
    assert value(samples, "holdfast_audit_differences") == 1
    assert (value(samples, "holdfast_audit_runs_total") or 0) >= 3
    acted = value(
        samples, "holdfast_operator_actions_total", action="fault.bucket_drift", outcome="OK"
    )
    assert acted == 1

    shown = run_ctl(drill.target, "audit")
    assert shown.returncode == 1, shown.stderr
    assert "1 difference(s)" in shown.stdout
    row = next(line for line in shown.stdout.splitlines() if line.startswith(sku))
    assert row.split() == [sku, "W1", "reserved", "3", "2"]

    errors = [r for r in drill.log_records() if r.get("logger") == "holdfast.audit"]
    assert errors
    assert all(r["level"] == "ERROR" for r in errors)
    assert errors[-1]["sku"] == sku
    assert errors[-1]["bucket"] == "reserved"


def test_a_drift_needs_a_position_and_a_bucket(drill: OpsServer) -> None:
    sku = unique("SKU")
    with OperationsClient(drill.target, actor="ops-carol") as ops:
        ops.set_stock(sku, "W1", 10, source_sequence=1)
        with pytest.raises(InvalidArgument) as refused:
            ops.inject_bucket_drift(sku, "W1", "on_hand", 1, reason="drill")
        assert refused.value.facts["field"] == "bucket_drift.bucket"
        with pytest.raises(InvalidArgument) as refused:
            ops.inject_bucket_drift(unique("NOPE"), "W1", "reserved", 1, reason="drill")
        assert refused.value.facts["field"] == "bucket_drift"
        with pytest.raises(InvalidArgument) as refused:
            ops.inject_bucket_drift(sku, "W1", "reserved", -1, reason="drill")  # below 0
        assert refused.value.facts["field"] == "bucket_drift"
        with pytest.raises(InvalidArgument) as refused:
            ops.inject_bucket_drift(sku, "W1", "reserved", 1, reason="")
        assert refused.value.facts["field"] == "reason"
        assert list(ops.run_audit().differences) == []


def test_the_periodic_audit_finds_a_drift_by_itself(tmp_path: Path) -> None:
    server = OpsServer(
        tmp_path, "--fault-injection", "--audit-interval-seconds", "0.1", metrics=True
    ).start()
    try:
        sku = unique("SKU")
        with OperationsClient(server.target, actor="ops-carol") as ops:
            ops.set_stock(sku, "W1", 10, source_sequence=1)
            ops.reserve([(sku, "W1", 4)])
            ops.allocate(ops.reserve([(sku, "W1", 1)]).reservation.reservation_id)
            ops.inject_bucket_drift(sku, "W1", "allocated", 2, reason="periodic drill")
        runs_then = value(scrape(server.metrics_url), "holdfast_audit_runs_total") or 0
        samples = eventually(
            server.metrics_url,
            lambda s: (
                (value(s, "holdfast_audit_runs_total") or 0) > runs_then
                and value(s, "holdfast_audit_differences") == 1
            ),
        )
        assert value(samples, "holdfast_audit_differences") == 1
        assert (value(samples, "holdfast_audit_last_run_timestamp_seconds") or 0) > 0
    finally:
        assert server.stop() == 0


def test_a_drift_is_never_snapshotted_and_a_restart_heals_it(tmp_path: Path) -> None:
    """Start-up refuses a snapshot that breaks the invariants, so a drifted
    state is never written as one: the graceful stop skips its snapshot and
    the journal alone rebuilds the state the decisions made."""
    sku = unique("SKU")
    server = OpsServer(tmp_path, "--fault-injection", "--audit-interval-seconds", "0").start()
    with OperationsClient(server.target, actor="ops-carol") as ops:
        ops.set_stock(sku, "W1", 10, source_sequence=1)
        ops.reserve([(sku, "W1", 2)])
        ops.inject_bucket_drift(sku, "W1", "reserved", 1, reason="audit drill")
    assert server.stop() == 0
    assert any("snapshot skipped" in r.get("msg", "") for r in server.log_records())

    restarted = OpsServer(tmp_path, "--audit-interval-seconds", "0").start()
    try:
        with OperationsClient(restarted.target, actor="ops-carol") as ops:
            assert list(ops.run_audit().differences) == []
            assert ops.get_availability([sku]).positions[0].reserved == 2
    finally:
        assert restarted.stop() == 0
