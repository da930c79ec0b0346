"""The clients against a real server: round trips, typed errors, minted keys."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import pytest
from holdfast.client import (
    AsyncClient,
    Client,
    HoldfastError,
    InvalidArgument,
    NotFound,
    Rejected,
    error_from_rpc_status,
)
from holdfast.client import requests as rq
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import reasons_pb2 as reasons

Stock = Callable[..., pb.StockResponse]


def sku_name() -> str:
    return f"SKU-{uuid.uuid4().hex[:8]}"


async def test_async_client_reserve_allocate_release_round_trip(
    aclient: AsyncClient, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    held = await aclient.reserve([(sku, "W1", 3)], order_ref="order-1", channel="web")
    assert held.decision.reason == reasons.RESERVED
    assert held.reservation.state == pb.LINE_STATE_RESERVED
    reservation_id = held.reservation.reservation_id

    allocated = await aclient.allocate(reservation_id, [pb.LineRequest(sku=sku, quantity=2)])
    assert allocated.decision.reason == reasons.ALLOCATED
    position = (await aclient.get_availability([sku])).positions[0]
    assert (position.reserved, position.allocated, position.available) == (0, 2, 8)

    released = await aclient.release(reservation_id, note="customer changed their mind")
    assert released.decision.reason == reasons.RELEASED
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    position = (await aclient.get_availability([sku])).positions[0]
    assert (position.reserved, position.allocated, position.available) == (0, 0, 10)

    shown = await aclient.get_reservation(reservation_id)
    assert [entry.action for entry in shown.history][:1] == ["reserve"]
    assert {entry.actor for entry in shown.history} == {"tester"}
    assert shown.order_ref == "order-1"


def test_sync_client_reserve_allocate_release_round_trip(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 4)
    held = client.reserve([(sku, "", 4)], hold_seconds=60)
    assert held.reservation.lines[0].location == "W1"  # holdfast chose the location
    reservation_id = held.reservation.reservation_id
    renewed = client.renew_hold(reservation_id, hold_seconds=120)
    assert renewed.decision.reason == reasons.HOLD_RENEWED
    allocated = client.allocate(reservation_id)
    assert allocated.reservation.state == pb.LINE_STATE_ALLOCATED
    released = client.release(reservation_id)
    assert released.reservation.state == pb.LINE_STATE_RELEASED
    assert client.get_availability([sku], ["W1"]).positions[0].available == 4


def test_a_shortfall_raises_rejected_with_the_quantities(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 2)
    with pytest.raises(Rejected) as refused:
        client.reserve([(sku, "W1", 5)])
    error = refused.value
    assert isinstance(error, HoldfastError)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "INSUFFICIENT_STOCK"
    assert error.facts["requested"] == "5"
    assert error.facts["available"] == "2"
    assert error.facts["sku"] == sku
    assert error.attempts == 1  # a business rejection is never retried
    assert error.retry_after is None
    assert "INSUFFICIENT_STOCK" in str(error)


async def test_a_malformed_request_raises_invalid_argument_naming_the_field(
    aclient: AsyncClient, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 2)
    with pytest.raises(InvalidArgument) as refused:
        await aclient.reserve([(sku, "W1", 1), (sku, "W1", 0)])
    error = refused.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_ARGUMENT"
    assert [violation.field for violation in error.field_violations] == ["lines[1].quantity"]
    # Nothing was accepted, and the server is still up.
    position = (await aclient.get_availability([sku])).positions[0]
    assert position.reserved == 0


def test_an_unknown_reservation_raises_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as missing:
        client.get_reservation(str(uuid.uuid4()))
    assert missing.value.reason == "RESERVATION_NOT_FOUND"


def test_the_client_mints_a_fresh_key_per_call_and_sends_a_given_one(
    client: Client, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 10)
    first = client.reserve([(sku, "W1", 1)])
    second = client.reserve([(sku, "W1", 1)])
    assert first.reservation.reservation_id != second.reservation.reservation_id
    keys = [
        client.get_reservation(answer.reservation.reservation_id).history[0].idempotency_key
        for answer in (first, second)
    ]
    assert len(set(keys)) == 2
    assert all(uuid.UUID(key).version == 4 for key in keys)

    given = client.reserve([(sku, "W1", 1)], idempotency_key="cart-7-checkout")
    history = client.get_reservation(given.reservation.reservation_id).history
    assert history[0].idempotency_key == "cart-7-checkout"


def test_the_tenant_travels_with_every_call(client: Client, stock: Stock) -> None:
    sku = sku_name()
    stock(sku, "W1", 3)
    held = client.reserve([(sku, "W1", 1)], idempotency_key="shared-key")
    with Client(client.target, tenant=f"other-{uuid.uuid4().hex[:8]}") as other:
        with pytest.raises(NotFound):  # another tenant's reservation
            other.get_reservation(held.reservation.reservation_id)
        # Keys are scoped by tenant: the same key is a new request there.
        theirs = other.reserve([(sku, "W1", 1)], idempotency_key="shared-key")
    assert theirs.reservation.reservation_id != held.reservation.reservation_id
    assert not theirs.decision.replayed


def test_a_batch_gets_keys_and_its_refusals_decode_like_unary_ones(
    client: Client, stock: Stock
) -> None:
    sku = sku_name()
    stock(sku, "W1", 2)
    answer = client.execute_batch(
        [
            pb.Operation(reserve=rq.reserve_request([(sku, "W1", 2)])),
            pb.Operation(reserve=pb.ReserveRequest(lines=[pb.LineRequest(sku=sku, quantity=1)])),
        ]
    )
    first, second = answer.results
    assert first.WhichOneof("result") == "reserve"
    history = client.get_reservation(first.reserve.reservation.reservation_id).history
    assert uuid.UUID(history[0].idempotency_key).version == 4
    assert second.WhichOneof("result") == "error"
    error = error_from_rpc_status(second.error)
    assert isinstance(error, Rejected)
    assert error.reason == "INSUFFICIENT_STOCK"
    assert error.facts["available"] == "0"
