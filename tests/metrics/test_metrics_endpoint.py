"""/metrics on a live server: exact business counters after a known sequence
of calls, RED per RPC, gauges read at scrape time, and no endpoint when off."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import timestamp_pb2
from holdfast import config
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from metrics_support import MetricsServer, unique
from scrape import Samples, eventually, fetch, scrape, value

RESERVE = "holdfast.v1.InventoryService/Reserve"
SET_STOCK = "holdfast.v1.InventoryService/SetStock"
FACT_AGE_S = 30


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricsServer]:
    process = MetricsServer(tmp_path_factory.mktemp("metrics")).start()
    try:
        yield process
    finally:
        assert process.stop() == 0, process.log_text()


def refused(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return caught.value.code()


@pytest.fixture(scope="module")
def after_traffic(server: MetricsServer) -> Samples:
    """Scraped after: a stock count 30 s old, a stale count, three accepted
    reserves (one with a 1 s hold that expires), a shortfall, a replay, a key reuse."""
    sku, location = unique("sku"), "DC1"
    line = pb.LineRequest(sku=sku, location=location, quantity=3)
    first = pb.ReserveRequest(idempotency_key=unique("r1"), order_ref="o1", lines=[line])
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        as_of = timestamp_pb2.Timestamp(seconds=int(time.time()) - FACT_AGE_S)
        stub.SetStock(
            pb.SetStockRequest(
                idempotency_key=unique("count"), sku=sku, location=location,
                on_hand=10, source_sequence=2, as_of=as_of,
            ),
            timeout=10,
        )  # fmt: skip
        stale = pb.SetStockRequest(
            idempotency_key=unique("count"), sku=sku, location=location,
            on_hand=99, source_sequence=1, as_of=as_of,
        )  # fmt: skip
        assert (
            refused(lambda: stub.SetStock(stale, timeout=10)) == grpc.StatusCode.FAILED_PRECONDITION
        )
        stub.Reserve(first, timeout=10)
        four = pb.LineRequest(sku=sku, location=location, quantity=4)
        stub.Reserve(pb.ReserveRequest(idempotency_key=unique("r2"), lines=[four]), timeout=10)
        two = pb.LineRequest(sku=sku, location=location, quantity=2)
        brief = pb.ReserveRequest(idempotency_key=unique("r3"), lines=[two], hold_seconds=1)
        stub.Reserve(brief, timeout=10)
        hundred = pb.LineRequest(sku=sku, location=location, quantity=100)
        short = pb.ReserveRequest(idempotency_key=unique("r4"), lines=[hundred])
        assert (
            refused(lambda: stub.Reserve(short, timeout=10)) == grpc.StatusCode.FAILED_PRECONDITION
        )
        assert stub.Reserve(first, timeout=10).decision.replayed
        reused = pb.ReserveRequest(idempotency_key=first.idempotency_key, lines=[four])
        assert (
            refused(lambda: stub.Reserve(reused, timeout=10)) == grpc.StatusCode.FAILED_PRECONDITION
        )

    def settled(samples: Samples) -> bool:
        errors = value(
            samples, "holdfast_rpc_errors_total",
            method=RESERVE, code="FAILED_PRECONDITION", reason="IDEMPOTENCY_KEY_REUSED",
        )  # fmt: skip
        return value(samples, "holdfast_holds_expired_total") == 1 and errors == 1

    return eventually(server.metrics_url, settled)


def decisions(samples: Samples, action: str, outcome: str, reason: str) -> float | None:
    return value(samples, "holdfast_decisions_total", action=action, outcome=outcome, reason=reason)


def test_decisions_counted_by_action_outcome_and_reason(after_traffic: Samples) -> None:
    s = after_traffic
    assert decisions(s, "reserve", "accepted", "RESERVED") == 3
    assert decisions(s, "reserve", "rejected", "INSUFFICIENT_STOCK") == 1
    assert decisions(s, "reserve", "rejected", "IDEMPOTENCY_KEY_REUSED") == 1
    assert decisions(s, "set_stock", "accepted", "STOCK_SET") == 1
    assert decisions(s, "set_stock", "rejected", "STALE_UPDATE") == 1


def test_units_replays_conflicts_stale_and_expiry(after_traffic: Samples) -> None:
    s = after_traffic
    assert value(s, "holdfast_reserved_units_total") == 3 + 4 + 2
    requested = "holdfast_reserve_requested_units_total"
    assert value(s, requested, outcome="accepted", reason="RESERVED") == 9
    assert value(s, requested, outcome="rejected", reason="INSUFFICIENT_STOCK") == 100
    assert value(s, "holdfast_idempotent_replays_total", action="reserve") == 1
    assert value(s, "holdfast_idempotency_key_conflicts_total", action="reserve") == 1
    assert value(s, "holdfast_stale_updates_total", action="set_stock") == 1
    assert value(s, "holdfast_holds_expired_total") == 1


def test_red_per_rpc(after_traffic: Samples) -> None:
    s = after_traffic
    # Three new holds and the replay answered OK; the shortfall and the reuse refused.
    assert value(s, "holdfast_rpc_requests_total", method=RESERVE, code="OK") == 4
    assert value(s, "holdfast_rpc_requests_total", method=RESERVE, code="FAILED_PRECONDITION") == 2
    errors = "holdfast_rpc_errors_total"
    reason = "INSUFFICIENT_STOCK"
    assert value(s, errors, method=RESERVE, code="FAILED_PRECONDITION", reason=reason) == 1
    assert (
        value(s, errors, method=SET_STOCK, code="FAILED_PRECONDITION", reason="STALE_UPDATE") == 1
    )
    assert value(s, "holdfast_rpc_duration_seconds_count", method=RESERVE) == 6
    assert value(s, "holdfast_rpc_duration_seconds_bucket", method=RESERVE, le="+Inf") == 6
    assert value(s, "holdfast_rpc_duration_seconds_bucket", method=RESERVE, le="0.0005") is not None


def test_state_read_at_scrape_time(server: MetricsServer, after_traffic: Samples) -> None:
    s = scrape(server.metrics_url)
    assert value(s, "holdfast_holds_open") == 2  # the expired one is no longer held
    assert value(s, "holdfast_reservations") == 3
    assert (value(s, "holdfast_idempotency_keys") or 0) >= 5
    assert value(s, "holdfast_overcommitted_positions") == 0
    assert value(s, "holdfast_overcommitted_oldest_age_seconds") == 0
    # The first reserve is still held; the 1 s hold was swept, none is overdue.
    assert (value(s, "holdfast_holds_oldest_age_seconds") or 0) > 0
    assert value(s, "holdfast_holds_expiry_backlog") == 0
    assert value(s, "holdfast_holds_expiry_lag_seconds") == 0
    assert value(s, "holdfast_journal_healthy") == 1
    assert (value(s, "holdfast_journal_commit_transactions_total") or 0) >= 1
    assert (value(s, "holdfast_journal_events_committed_total") or 0) >= 6
    assert value(s, "holdfast_journal_commit_queue_depth") == 0
    assert value(s, "holdfast_rpc_in_flight") == 0
    assert (value(s, "holdfast_journal_commit_wait_seconds_count") or 0) >= 8


def test_warehouse_fact_lag(after_traffic: Samples) -> None:
    s = after_traffic
    lag = "holdfast_warehouse_fact_lag_seconds"
    assert value(s, f"{lag}_count", action="set_stock") == 1
    observed = value(s, f"{lag}_sum", action="set_stock") or 0
    # The count was FACT_AGE_S old when sent (whole seconds), plus transit.
    assert FACT_AGE_S - 1 <= observed < FACT_AGE_S + 30


def test_labels_are_bounded(after_traffic: Samples) -> None:
    # Bounded sets only: never a sku, tenant, reservation id or key.
    allowed = {"method", "code", "reason", "action", "outcome", "le", "version"}
    allowed |= {"breaker", "state", "from_state", "to_state", "resource", "answer", "dependency"}
    allowed |= {"kind", "ended"}
    for name, labels in after_traffic:
        assert name.startswith("holdfast_"), name
        assert {key for key, _ in labels} <= allowed, (name, labels)


def test_only_metrics_is_served(server: MetricsServer) -> None:
    status, _, _ = fetch(server.metrics_url.replace("/metrics", "/other"))
    assert status == 404


def test_start_up_line_names_the_endpoint(server: MetricsServer) -> None:
    assert server.record("holdfast listening")["metrics_url"] == server.metrics_url


def test_empty_metrics_listen_serves_no_endpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    process = MetricsServer(tmp_path, metrics=False)
    # The flag is "" too; the environment shows the same setting through.
    monkeypatch.setenv("HOLDFAST_METRICS_LISTEN", "")
    process.start()
    try:
        assert process.record("holdfast listening")["metrics_url"] == ""
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", process.metrics_port), timeout=2),
        ):
            pass
    finally:
        assert process.stop() == 0, process.log_text()


def test_metrics_listen_setting() -> None:
    assert config.load({}, {}).metrics_listen == "127.0.0.1:9464"
    assert config.load({}, {"HOLDFAST_METRICS_LISTEN": ""}).metrics_listen == ""
    assert config.load({"metrics_listen": "[::1]:9000"}, {}).metrics_listen == "[::1]:9000"
    with pytest.raises(config.ConfigError, match="metrics_listen"):
        config.load({"metrics_listen": "9464"}, {})
    with pytest.raises(config.ConfigError, match="metrics"):
        config.load({"metrics_listen": "0.0.0.0:9464"}, {})
