"""Retries: same key on every attempt, only transient failures, never past the deadline.

The flaky proxy is a real gRPC server between the client and holdfast that
fails the attempts we script; the server-start test uses the real server
alone, started while the client is already retrying.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import grpc
import pytest
from client_harness import ServerProcess
from client_proxy import Fail, FlakyProxy
from holdfast.client import (
    AsyncClient,
    Client,
    Conflict,
    HoldfastError,
    Overloaded,
    Rejected,
    RetryPolicy,
    Unavailable,
)

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
FAST = RetryPolicy(max_attempts=20, initial_backoff=0.01, max_backoff=0.1)


def stocked(target: str, tenant: str, on_hand: int) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    with Client(target, tenant=tenant) as direct:
        direct.set_stock(sku, "W1", on_hand, source_sequence=1)
    return sku


async def test_a_retried_call_keeps_its_minted_key(server: ServerProcess, tenant: str) -> None:
    sku = stocked(server.target, tenant, 10)
    script = [Fail(UNAVAILABLE), Fail(UNAVAILABLE)]
    with FlakyProxy(server.target, script) as proxy:
        async with AsyncClient(proxy.target, tenant=tenant, retry=FAST) as flaky:
            answer = await flaky.reserve([(sku, "W1", 2)])
    keys = proxy.keys()
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert uuid.UUID(keys[0]).version == 4
    with Client(server.target, tenant=tenant) as direct:
        history = direct.get_reservation(answer.reservation.reservation_id).history
        assert history[0].idempotency_key == keys[0]
        assert direct.get_availability([sku]).positions[0].reserved == 2


def test_a_lost_answer_is_replayed_not_decided_twice(server: ServerProcess, tenant: str) -> None:
    # The server decides the first attempt, but its answer never reaches the
    # client; the retry carries the same key and gets the stored outcome.
    sku = stocked(server.target, tenant, 10)
    with (
        FlakyProxy(server.target, [Fail(UNAVAILABLE, after_forwarding=True)]) as proxy,
        Client(proxy.target, tenant=tenant, retry=FAST) as flaky,
    ):
        answer = flaky.reserve([(sku, "W1", 3)])
    assert len(proxy.attempts) == 2
    assert len(set(proxy.keys())) == 1
    assert answer.decision.replayed
    with Client(server.target, tenant=tenant) as direct:
        assert direct.get_availability([sku]).positions[0].reserved == 3


def test_aborted_and_advised_overload_are_retried(server: ServerProcess, tenant: str) -> None:
    sku = stocked(server.target, tenant, 10)
    script = [Fail(grpc.StatusCode.ABORTED), Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, 0.05)]
    with (
        FlakyProxy(server.target, script) as proxy,
        Client(proxy.target, tenant=tenant, retry=FAST) as flaky,
    ):
        answer = flaky.reserve([(sku, "W1", 1)])
    assert not answer.decision.replayed
    assert len(proxy.attempts) == 3
    assert len(set(proxy.keys())) == 1


def test_overload_without_advice_and_rejections_are_not_retried(
    server: ServerProcess, tenant: str
) -> None:
    sku = stocked(server.target, tenant, 1)
    with (
        FlakyProxy(server.target, [Fail(grpc.StatusCode.RESOURCE_EXHAUSTED)]) as proxy,
        Client(proxy.target, tenant=tenant, retry=FAST) as flaky,
    ):
        with pytest.raises(Overloaded) as overloaded:
            flaky.reserve([(sku, "W1", 1)])
        assert overloaded.value.retry_after is None
        assert len(proxy.attempts) == 1
        with pytest.raises(Rejected):  # INSUFFICIENT_STOCK from the real server
            flaky.reserve([(sku, "W1", 5)])
        assert len(proxy.attempts) == 2


async def test_retries_stop_at_the_deadline(tenant: str) -> None:
    with FlakyProxy(None, always=Fail(UNAVAILABLE)) as proxy:
        patient = RetryPolicy(max_attempts=1000, initial_backoff=0.02, max_backoff=0.2)
        async with AsyncClient(proxy.target, timeout=1.0, retry=patient) as flaky:
            started = time.monotonic()
            with pytest.raises(Unavailable) as gave_up:
                await flaky.release("any")
            elapsed = time.monotonic() - started
    assert gave_up.value.attempts > 1
    assert gave_up.value.attempts == len(proxy.attempts)
    assert 0.5 < elapsed < 3.0  # about the 1 s deadline; slack for a busy machine


def test_an_advised_delay_past_the_deadline_is_not_waited_for(tenant: str) -> None:
    with (
        FlakyProxy(None, always=Fail(grpc.StatusCode.RESOURCE_EXHAUSTED, 30.0)) as proxy,
        Client(proxy.target, timeout=5.0, retry=FAST) as flaky,
    ):
        started = time.monotonic()
        with pytest.raises(Overloaded) as gave_up:
            flaky.release("any")
        elapsed = time.monotonic() - started
    assert gave_up.value.retry_after == pytest.approx(30.0)
    assert gave_up.value.attempts == 1
    assert elapsed < 4.0


async def test_a_call_made_before_the_server_starts_succeeds_once_it_is_up(
    tmp_path: Path, tenant: str
) -> None:
    late = ServerProcess(tmp_path / "late.log")
    # The deadline, not an attempt count, must bound this wait: a loaded
    # machine can take seconds to start a server, more than FAST's attempts.
    patient = RetryPolicy(max_attempts=1000, initial_backoff=0.05, max_backoff=0.25)
    async with AsyncClient(late.target, tenant=tenant, timeout=60.0, retry=patient) as early:
        call = asyncio.create_task(early.set_stock("SKU-LATE", "W1", 7, source_sequence=1))
        await asyncio.sleep(0.5)
        assert not call.done()  # nobody listens yet: the client is retrying
        late.start()
        try:
            answer = await call
            assert answer.position.on_hand == 7
            assert not answer.decision.replayed
            position = (await early.get_availability(["SKU-LATE"])).positions[0]
            assert position.on_hand == 7
        finally:
            assert late.stop() == 0


def test_the_policy_gives_up_when_the_wait_would_pass_the_deadline() -> None:
    policy = RetryPolicy(max_attempts=5, initial_backoff=1.0, jitter=0.0)
    transient = HoldfastError(UNAVAILABLE, "down")
    assert policy.delay_before_retry(transient, attempt=1, remaining=10.0) == 1.0
    assert policy.delay_before_retry(transient, attempt=2, remaining=10.0) == 2.0
    assert policy.delay_before_retry(transient, attempt=2, remaining=1.5) is None
    assert policy.delay_before_retry(transient, attempt=5, remaining=100.0) is None
    refused = Rejected(grpc.StatusCode.FAILED_PRECONDITION, "no", reason="INSUFFICIENT_STOCK")
    assert policy.delay_before_retry(refused, attempt=1, remaining=100.0) is None
    advised = Conflict(grpc.StatusCode.ABORTED, "in flight", retry_after=3.0)
    assert policy.delay_before_retry(advised, attempt=1, remaining=100.0) == 3.0
