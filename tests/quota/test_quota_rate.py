"""The per-tenant request rate on a real server: a tenant's calls past its
token bucket are refused RESOURCE_EXHAUSTED/QUOTA_EXCEEDED with a
QuotaFailure naming the tenant and the rate and a RetryInfo saying when to
come back; another tenant and health checks are unaffected; the tenant gets
through again once its bucket refills, and a client that honours the advice
gets through by itself."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from holdfast.client import Client, HoldfastError, QuotaExceeded, QuotaViolation, RetryPolicy
from holdfast.v1 import inventory_pb2 as pb
from holdfast.v1 import inventory_pb2_grpc
from quota_support import LOCATION, Holdfast, refusal_details, unique, until

RATE = 5  # requests a second, and the bucket's size


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holdfast]:
    directory = tmp_path_factory.mktemp("quota-rate")
    holdfast = Holdfast(directory, "--tenant-max-requests-per-second", str(RATE)).start()
    try:
        yield holdfast
    finally:
        assert holdfast.stop() == 0


def availability(stub: inventory_pb2_grpc.InventoryServiceStub, tenant: str) -> None:
    request = pb.GetAvailabilityRequest(skus=["none"], locations=[LOCATION])
    stub.GetAvailability(request, metadata=(("x-holdfast-tenant", tenant),), timeout=30)


def exhaust(stub: inventory_pb2_grpc.InventoryServiceStub, tenant: str) -> grpc.RpcError:
    """Call as ``tenant`` until refused (the bucket holds RATE calls, and
    refills while the calls run): the refusal."""
    for _ in range(100 * RATE):
        try:
            availability(stub, tenant)
        except grpc.RpcError as refused:
            return refused
    raise AssertionError(f"{100 * RATE} calls in a row were never refused")


def exhaust_client(client: Client) -> QuotaExceeded:
    """Call through ``client`` (one attempt each) until it raises QuotaExceeded."""
    for _ in range(100 * RATE):
        try:
            client.get_availability(["none"], [LOCATION])
        except QuotaExceeded as refused:
            return refused
    raise AssertionError(f"{100 * RATE} calls in a row were never refused")


def test_calls_past_the_rate_are_refused_with_quota_failure_and_retry_info(
    server: Holdfast,
) -> None:
    tenant, other = unique("greedy"), unique("calm")
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        refused = exhaust(stub, tenant)
        assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        details = refusal_details(refused)
        assert details["reason"] == "QUOTA_EXCEEDED"
        assert details["violations"] == [
            (f"tenant:{tenant}", f"requests_per_second: at most {RATE}")
        ]
        retry_after = details["retry_after"]
        assert isinstance(retry_after, float)
        assert 0 < retry_after <= 1 / RATE
        pushback = dict(refused.trailing_metadata() or ())["grpc-retry-pushback-ms"]
        assert 0 <= int(pushback) <= 1000 / RATE

        # Another tenant's bucket is its own; health checks are never limited.
        availability(stub, other)
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(3 * RATE):
            health.Check(health_pb2.HealthCheckRequest(), timeout=30)

        # The bucket refills: the tenant gets through again.
        def through() -> bool | None:
            try:
                availability(stub, tenant)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                return None
            return True

        until("the bucket to refill", through)


def test_the_client_raises_quota_exceeded_or_honours_the_advice(server: Holdfast) -> None:
    tenant = unique("client")
    with server.client(tenant) as once:
        error = exhaust_client(once)
        assert error.reason == "QUOTA_EXCEEDED"
        assert error.quota_violations == [
            QuotaViolation(f"tenant:{tenant}", f"requests_per_second: at most {RATE}")
        ]
        assert error.facts["quota"] == "requests_per_second"
        assert error.retry_after is not None
        assert "retry in" in error.message

    # A client that retries as advised gets every call through, however
    # fast it asks: each refusal says how long until the next token.
    patient = RetryPolicy(max_attempts=50)
    with server.client(tenant, retry=patient) as client:
        for _ in range(3 * RATE):
            try:
                client.get_availability(["none"], [LOCATION])
            except HoldfastError as e:
                raise AssertionError(f"a patient client was refused: {e!r}") from e


def test_a_decision_is_refused_before_the_core_sees_it(server: Holdfast) -> None:
    """A refused Reserve decided nothing: its key is free once the rate allows."""
    tenant = unique("shop")
    sku = unique("sku")
    with server.client("warehouse") as wms:
        wms.set_stock(sku, LOCATION, 10, source_sequence=1)
    with grpc.insecure_channel(server.target) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)
        exhaust(stub, tenant)
        metadata = (("x-holdfast-tenant", tenant),)
        request = pb.ReserveRequest(
            idempotency_key="only-once",
            lines=[pb.LineRequest(sku=sku, location=LOCATION, quantity=10)],
        )

        def reserve() -> pb.ReserveResponse | None:
            try:
                response: pb.ReserveResponse = stub.Reserve(request, metadata=metadata, timeout=30)
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                    raise
                return None
            return response

        answered = until("the reserve to get through", reserve)
        assert not answered.decision.replayed
        assert answered.reservation.reservation_id
