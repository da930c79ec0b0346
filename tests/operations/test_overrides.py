"""OverrideRelease and OverrideAdjust: decided as InventoryService decides,
durable, in the history and the journal with the operator and their reason."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from holdfast.client import Client, InvalidArgument, NotFound, OperationsClient, Rejected
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2
from operations_support import OpsServer, run_ctl, unique

Stock = Callable[[str, str, int], pb.StockResponse]


def test_release_of_another_tenants_reservation_is_in_its_history(
    ops: OperationsClient, shop: Client, stock: Stock, tenant: str
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    held = shop.reserve([(sku, "W1", 4)], order_ref="web-1")
    reservation_id = held.reservation.reservation_id

    released = ops.override_release(reservation_id, tenant=tenant, reason="stuck checkout")
    assert released.decision.reason == reasons_pb2.RELEASED
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert released.decision.committed_at.seconds > 0  # answered once durable

    # The storefront sees the operator's release in its own reservation.
    shown = shop.get_reservation(reservation_id)
    assert shown.state == pb.LINE_STATE_RELEASED
    last = shown.history[-1]
    assert (last.action, last.actor) == ("release", "ops-alice")
    events = shop.list_events(reservation_id=reservation_id).events
    assert events[-1].reason == reasons_pb2.RELEASED
    assert events[-1].actor == "ops-alice"
    assert "stuck checkout" in events[-1].body_json
    assert shop.get_availability([sku]).positions[0].available == 10

    logged = ops.list_operator_actions(page_size=1).actions[0]
    assert (logged.action, logged.target, logged.reason, logged.outcome) == (
        "override.release",
        reservation_id,
        "stuck checkout",
        "RELEASED",
    )


def test_adjust_is_journaled_with_the_reason(ops: OperationsClient, stock: Stock) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    adjusted = ops.override_adjust(sku, "W1", -3, reason="water damage")
    assert adjusted.position.on_hand == 7
    assert adjusted.decision.committed_at.seconds > 0
    events = ops.list_events(sku=sku).events  # the operator's tenant made the change
    assert len(events) == 1
    assert events[0].actor == "ops-alice"
    assert json.loads(events[0].body_json)
    assert "water damage" in events[0].body_json

    logged = ops.list_operator_actions(page_size=1).actions[0]
    assert (logged.action, logged.target, logged.outcome) == (
        "override.adjust",
        f"{sku}@W1",
        "STOCK_ADJUSTED",
    )


def test_a_retried_override_is_decided_once(ops: OperationsClient, stock: Stock) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    first = ops.override_adjust(sku, "W1", 5, reason="found a box", idempotency_key="k-1")
    again = ops.override_adjust(sku, "W1", 5, reason="found a box", idempotency_key="k-1")
    assert not first.decision.replayed
    assert again.decision.replayed
    assert ops.get_availability([sku]).positions[0].on_hand == 15


def test_a_refused_override_is_recorded_with_its_reason_code(
    ops: OperationsClient, stock: Stock, tenant: str
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 2)
    with pytest.raises(Rejected) as refused:
        ops.override_adjust(sku, "W1", -5, reason="miscounted")
    assert refused.value.reason == "INSUFFICIENT_ON_HAND"
    missing = "01a22876-2318-7000-8000-00000000ffff"
    with pytest.raises(NotFound):
        ops.override_release(missing, tenant=tenant, reason="cleanup")
    logged = ops.list_operator_actions(page_size=2).actions
    assert [(a.action, a.outcome) for a in logged] == [
        ("override.release", "RESERVATION_NOT_FOUND"),
        ("override.adjust", "INSUFFICIENT_ON_HAND"),
    ]


def test_overrides_need_an_actor_a_reason_and_a_tenant(
    server: OpsServer, ops: OperationsClient, shop: Client, stock: Stock, tenant: str
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    reservation_id = shop.reserve([(sku, "W1", 1)]).reservation.reservation_id
    before = ops.list_operator_actions(page_size=1).actions
    with OperationsClient(server.target) as anonymous:
        with pytest.raises(InvalidArgument) as refused:
            anonymous.override_release(reservation_id, tenant=tenant, reason="r")
        assert refused.value.facts["field"] == "actor"
        with pytest.raises(InvalidArgument) as refused:
            anonymous.override_adjust(sku, "W1", 1, reason="r")
        assert refused.value.facts["field"] == "actor"
    with pytest.raises(InvalidArgument) as refused:
        ops.override_release(reservation_id, tenant=tenant, reason="")
    assert refused.value.facts["field"] == "reason"
    with pytest.raises(InvalidArgument) as refused:
        ops.override_adjust(sku, "W1", 1, reason="")
    assert refused.value.facts["field"] == "reason"
    with pytest.raises(InvalidArgument) as refused:
        ops.override_release(reservation_id, tenant="", reason="r")
    assert refused.value.facts["field"] == "tenant"
    # Nothing changed, nothing was recorded.
    assert shop.get_reservation(reservation_id).state == pb.LINE_STATE_RESERVED
    assert ops.get_availability([sku]).positions[0].on_hand == 10
    assert ops.list_operator_actions(page_size=1).actions == before


def test_ctl_history_shows_the_operators_reason(
    server: OpsServer, ops: OperationsClient, shop: Client, stock: Stock, tenant: str
) -> None:
    sku = unique("SKU")
    stock(sku, "W1", 10)
    reservation_id = shop.reserve([(sku, "W1", 1)]).reservation.reservation_id
    ops.override_release(reservation_id, tenant=tenant, reason="stuck checkout")
    shown = run_ctl(server.target, "--tenant", tenant, "history", reservation_id)
    assert shown.returncode == 0, shown.stderr
    header, *rows = shown.stdout.splitlines()
    assert header.split()[-1] == "NOTE"
    assert rows[-1].split()[2:4] == ["lines_moved", "ops-alice"]
    assert rows[-1].endswith("stuck checkout")
