"""The client honours the server's pushback: the retry policy's rules (unit
tests, no server), then end to end: behind a proxy that sends only the
``grpc-retry-pushback-ms`` trailer, and against a real holdfast at its
max_in_flight bound. No timing is asserted: the deadline cases are chosen
so the answer does not depend on how fast the machine is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from bp_support import (
    WAIT_S,
    Holdfast,
    WriteLock,
    reserve,
    set_stock,
    unique,
)
from holdfast.client import AsyncClient, Client, HoldfastError, Overloaded, RetryPolicy
from holdfast.client.errors import pushback_from
from holdfast.v1 import inventory_pb2 as pb
from polling import until
from pushback_proxy import Pushback, PushbackProxy

EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE
EXACT = RetryPolicy(jitter=0.0)  # no random share: the delay is the advice itself


def _error(
    code: grpc.StatusCode, retry_after: float | None = None, pushback: float | None = None
) -> HoldfastError:
    return HoldfastError(code, "refused", retry_after=retry_after, retry_pushback=pushback)


# The policy ---------------------------------------------------------------------------


def test_the_pushback_trailer_is_read_as_grpc_says() -> None:
    assert pushback_from((("grpc-retry-pushback-ms", "250"),)) == 0.25
    assert pushback_from((("grpc-retry-pushback-ms", "0"),)) == 0.0
    # Negative or not a number: the server asks for no retry at all (gRFC A6).
    assert pushback_from((("grpc-retry-pushback-ms", "-1"),)) == -1.0
    assert pushback_from((("grpc-retry-pushback-ms", "soon"),)) == -1.0
    assert pushback_from((("x-request-id", "r-1"),)) is None
    assert pushback_from(None) is None


def test_a_pushback_without_retry_info_is_honoured() -> None:
    error = _error(EXHAUSTED, pushback=0.3)
    assert EXACT.is_retryable(error)
    assert EXACT.delay_before_retry(error, attempt=1, remaining=10.0) == 0.3
    # Never shortened by jitter: only ever lengthened.
    jittered = RetryPolicy(jitter=0.5)
    for _ in range(100):
        delay = jittered.delay_before_retry(error, attempt=1, remaining=10.0)
        assert delay is not None
        assert 0.3 <= delay <= 0.45


def test_retry_info_wins_over_the_pushback() -> None:
    assert EXACT.delay_before_retry(_error(EXHAUSTED, 0.5, 0.1), 1, 10.0) == 0.5
    # Even over a pushback that says "do not retry".
    assert EXACT.delay_before_retry(_error(EXHAUSTED, 0.5, -1.0), 1, 10.0) == 0.5


def test_a_negative_pushback_stops_every_retry() -> None:
    for code in (EXHAUSTED, UNAVAILABLE, grpc.StatusCode.ABORTED):
        error = _error(code, pushback=-1.0)
        assert not EXACT.is_retryable(error)
        assert EXACT.delay_before_retry(error, attempt=1, remaining=10.0) is None


def test_a_pushback_is_honoured_only_within_the_deadline() -> None:
    error = _error(EXHAUSTED, pushback=2.0)
    assert EXACT.delay_before_retry(error, attempt=1, remaining=2.5) == 2.0
    assert EXACT.delay_before_retry(error, attempt=1, remaining=1.5) is None
    # And within the attempts.
    assert RetryPolicy(max_attempts=2, jitter=0).delay_before_retry(error, 2, 10.0) is None


def test_without_advice_resource_exhausted_is_not_retried() -> None:
    assert not EXACT.is_retryable(_error(EXHAUSTED))
    # Unavailable keeps its own backoff when the server advises nothing.
    assert EXACT.delay_before_retry(_error(UNAVAILABLE), 1, 10.0) == EXACT.initial_backoff


# End to end ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Holdfast]:
    started = Holdfast(tmp_path_factory.mktemp("pushback")).start()
    yield started
    assert started.stop() == 0, started.log_text()


def _stocked(server: Holdfast, tenant: str) -> str:
    sku = unique("sku")
    with Client(server.target, tenant=tenant) as direct:
        direct.set_stock(sku, "L1", 100, source_sequence=1)
    return sku


def test_the_client_retries_after_the_pushback_with_the_same_key(server: Holdfast) -> None:
    sku = _stocked(server, "shop")
    script = [Pushback("20"), Pushback("20")]
    with (
        PushbackProxy(server.target, script) as proxy,
        Client(proxy.target, tenant="shop") as client,
    ):
        answer = client.reserve([(sku, "L1", 1)], timeout=WAIT_S)
    assert len(proxy.keys) == 3
    assert len(set(proxy.keys)) == 1
    assert answer.reservation.history[0].idempotency_key == proxy.keys[0]


async def test_the_async_client_honours_it_too(server: Holdfast) -> None:
    sku = _stocked(server, "shop")
    with PushbackProxy(server.target, [Pushback("20")]) as proxy:
        async with AsyncClient(proxy.target, tenant="shop") as client:
            await client.reserve([(sku, "L1", 1)], timeout=WAIT_S)
    assert len(proxy.keys) == 2
    assert len(set(proxy.keys)) == 1


def test_a_negative_pushback_is_not_retried_even_when_unavailable(server: Holdfast) -> None:
    script = [Pushback("-1", code=UNAVAILABLE)]
    with (
        PushbackProxy(server.target, script) as proxy,
        Client(proxy.target) as client,
        pytest.raises(HoldfastError) as refused,
    ):
        client.reserve([(unique("sku"), "L1", 1)], timeout=WAIT_S)
    assert refused.value.code == UNAVAILABLE
    assert refused.value.retry_pushback == -1.0
    assert refused.value.attempts == 1
    assert len(proxy.keys) == 1


def test_retry_info_wins_when_both_are_sent(server: Holdfast) -> None:
    sku = _stocked(server, "shop")
    script = [Pushback("-1", retry_info_s=0.02)]
    with (
        PushbackProxy(server.target, script) as proxy,
        Client(proxy.target, tenant="shop") as client,
    ):
        client.reserve([(sku, "L1", 1)], timeout=WAIT_S)
    assert len(proxy.keys) == 2


def test_a_pushback_past_the_deadline_gives_up_at_once(server: Holdfast) -> None:
    # An hour's pushback against a 30 s budget: no retry can end in time.
    with (
        PushbackProxy(server.target, [Pushback("3600000")]) as proxy,
        Client(proxy.target) as client,
        pytest.raises(Overloaded) as refused,
    ):
        client.reserve([(unique("sku"), "L1", 1)], timeout=WAIT_S)
    assert refused.value.retry_pushback == 3600.0
    assert refused.value.attempts == 1
    assert len(proxy.keys) == 1


def test_the_client_waits_out_a_real_overload(tmp_path: Path) -> None:
    """holdfast at --max-in-flight 1 with its one slot held: the client is
    refused OVERLOADED (RetryInfo and pushback), retries with its key, and
    gets its hold once the slot is free; one decision, not two."""
    server = Holdfast(
        tmp_path, "--max-in-flight", "1", "--journal-timeout-seconds", "60", metrics=True
    ).start()
    try:
        sku = unique("sku")
        with grpc.insecure_channel(server.target) as channel:
            stub = server.stub(channel)
            stub.SetStock(set_stock(sku, 10), timeout=WAIT_S)
            outcome: dict[str, pb.ReserveResponse | BaseException] = {}
            with WriteLock(server.database):
                holding = stub.Reserve.future(reserve(sku), timeout=WAIT_S)
                until(
                    lambda: server.metric("holdfast_rpc_in_flight") == 1 or None,
                    what="the slot to be taken",
                )

                def patient() -> None:
                    try:
                        with Client(server.target) as client:
                            outcome["answer"] = client.reserve([(sku, "L1", 1)], timeout=WAIT_S)
                    except BaseException as e:  # reported by the assertion below
                        outcome["answer"] = e

                caller = threading.Thread(target=patient)
                caller.start()
                until(
                    lambda: (
                        server.metric("holdfast_overload_refusals_total", resource="in_flight") >= 2
                        or None
                    ),
                    what="the client to be refused and retry",
                )
            holding.result()
            caller.join(WAIT_S)
            answer = outcome["answer"]
            assert isinstance(answer, pb.ReserveResponse), answer
            assert not answer.decision.replayed
            position = stub.GetAvailability(pb.GetAvailabilityRequest(skus=[sku]), timeout=WAIT_S)
            assert position.positions[0].reserved == 2
    finally:
        assert server.stop() == 0, server.log_text()
