"""What each role may do: a storefront never counts stock (not even inside a
batch), a reader never reserves, an operator reads the breakers."""

from __future__ import annotations

import grpc
import pytest
from auth_support import unique
from conftest import Connect, next_sequence
from holdfast.client import HoldfastError
from holdfast.client import requests as rq
from holdfast.v1 import inventory_pb2 as pb


def test_a_storefront_cannot_set_stock(connect: Connect) -> None:
    with pytest.raises(HoldfastError) as refused:
        connect("acme", "storefront").set_stock(unique("sku"), "dc1", 5, source_sequence=1)
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.reason == "PERMISSION_DENIED"
    assert refused.value.facts["method"] == "SetStock"


def test_a_storefront_cannot_set_stock_inside_a_batch(connect: Connect) -> None:
    sku = unique("sku")
    connect("acme", "warehouse").set_stock(sku, "dc1", 5, source_sequence=next_sequence())
    sneaked = pb.Operation(
        set_stock=rq.set_stock_request(sku, "dc1", 1000, source_sequence=next_sequence())
    )
    reserve = pb.Operation(
        reserve=pb.ReserveRequest(
            idempotency_key=unique("key"),
            lines=[pb.LineRequest(sku=sku, location="dc1", quantity=1)],
        )
    )
    answer = connect("acme", "storefront").execute_batch([sneaked, reserve])
    refused, reserved = answer.results
    assert refused.error.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "SetStock" in refused.error.message
    # The operations within the role are decided as usual.
    assert not reserved.HasField("error")
    position = connect("acme", "reader").get_availability(skus=[sku]).positions[0]
    assert position.on_hand == 5
    assert position.reserved == 1


def test_a_warehouse_batch_may_count_stock(connect: Connect) -> None:
    sku = unique("sku")
    count = pb.Operation(
        set_stock=rq.set_stock_request(sku, "dc1", 7, source_sequence=next_sequence())
    )
    answer = connect("acme", "warehouse").execute_batch([count])
    assert not answer.results[0].HasField("error")
    assert connect("acme", "reader").get_availability(skus=[sku]).positions[0].on_hand == 7


def test_a_reader_cannot_reserve(connect: Connect) -> None:
    sku = unique("sku")
    connect("acme", "warehouse").set_stock(sku, "dc1", 5, source_sequence=next_sequence())
    with pytest.raises(HoldfastError) as refused:
        connect("acme", "reader").reserve([(sku, "dc1", 1)])
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.facts["method"] == "Reserve"
    assert connect("acme", "reader").get_availability(skus=[sku]).positions[0].reserved == 0
    # Nor may a reader send a batch at all.
    with pytest.raises(HoldfastError) as batch:
        connect("acme", "reader").execute_batch(
            [pb.Operation(reserve=pb.ReserveRequest(idempotency_key=unique("key")))]
        )
    assert batch.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_an_operator_can_list_breakers_but_not_reserve(connect: Connect) -> None:
    operator = connect("acme", "operator")
    names = {breaker.name for breaker in operator.list_circuit_breakers().breakers}
    assert "journal" in names
    with pytest.raises(HoldfastError) as refused:
        operator.reserve([(unique("sku"), "dc1", 1)])
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED


def test_a_storefront_cannot_operate(connect: Connect) -> None:
    with pytest.raises(HoldfastError) as refused:
        connect("acme", "storefront").list_circuit_breakers()
    assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert refused.value.facts["method"] == "ListCircuitBreakers"
