"""The feasibility check before a reserve, through its breaker, with the
built-in fake as a real process: its verdicts, its failures (slow, failing)
opening the breaker, the configured policy while it is unavailable (refuse,
or decide and say so), and recovery through HALF_OPEN probes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest
from dependencies_harness import Server, breaker_state
from fake_feasibility import FakeFeasibility
from google.protobuf.timestamp_pb2 import Timestamp
from holdfast.client import Rejected, Unavailable, error_from_rpc_status
from holdfast.client.operations import OperationsClient
from holdfast.v1 import inventory_pb2 as pb
from polling import until

# A small window so a handful of calls decides; a short wait in OPEN.
BREAKER = (
    "feasibility.minimum_number_of_calls=4,feasibility.sliding_window_size=4,"
    "feasibility.wait_in_open_ms=300,feasibility.permitted_calls_in_half_open=2"
)


def checked_server(start: Callable[..., Server], fake: FakeFeasibility, policy: str) -> Server:
    return start(
        "--feasibility-url",
        fake.url,
        "--feasibility-timeout-ms",
        "100",
        "--feasibility-when-unavailable",
        policy,
        "--breakers",
        BREAKER,
    )


def stocked(client: OperationsClient, on_hand: int = 1_000) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    client.set_stock(sku, "L1", on_hand, source_sequence=1)
    return sku


def available(client: OperationsClient, sku: str) -> int:
    (position,) = client.get_availability([sku]).positions
    return position.available


def open_the_breaker(client: OperationsClient, sku: str) -> None:
    """Reserve until the breaker refuses (each attempt fails at the fake)."""

    def refused_by_breaker() -> Unavailable | None:
        with pytest.raises(Unavailable) as refused:
            client.reserve([(sku, "L1", 1)])
        return refused.value if refused.value.facts.get("breaker") == "feasibility" else None

    refusal = until(refused_by_breaker)
    assert refusal.reason == "DEPENDENCY_UNAVAILABLE"
    assert refusal.facts["state"] == "OPEN"
    assert refusal.retry_after is not None


def test_an_infeasible_reserve_is_refused_with_its_facts_and_holds_nothing(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "refuse")
    with server.client() as client:
        sku = stocked(client)
        fake.control(infeasible_skus=[sku])
        with pytest.raises(Rejected) as refused:
            client.reserve([(sku, "L1", 3)], channel="web")
        assert refused.value.reason == "INFEASIBLE"
        assert refused.value.facts["dependency"] == "feasibility"
        assert refused.value.facts["skus"] == sku
        assert sku in refused.value.facts["detail"]
        assert available(client, sku) == 1_000
        # Another SKU is feasible: held, verified.
        other = stocked(client)
        answer = client.reserve([(other, "L1", 3)])
        assert list(answer.decision.unverified) == []
        assert available(client, other) == 997


def test_a_retry_of_an_accepted_key_replays_it_without_asking_again(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "refuse")
    with server.client() as client:
        sku = stocked(client)
        first = client.reserve([(sku, "L1", 2)], idempotency_key="cart-1")
        asked = fake.control()["checks"]
        fake.control(infeasible_skus=[sku], fail=True)
        again = client.reserve([(sku, "L1", 2)], idempotency_key="cart-1")
        assert again.decision.replayed
        assert again.reservation.reservation_id == first.reservation.reservation_id
        assert fake.control()["checks"] == asked
        assert available(client, sku) == 998


def test_a_slow_check_opens_the_breaker_then_reserves_are_refused_naming_it(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "refuse")
    with server.client() as client:
        sku = stocked(client)
        fake.control(delay_ms=5_000)
        # Before the window is judged: each timeout is refused as such.
        with pytest.raises(Unavailable) as timed_out:
            client.reserve([(sku, "L1", 1)])
        assert timed_out.value.reason == "DEPENDENCY_UNAVAILABLE"
        assert timed_out.value.facts["dependency"] == "feasibility"
        assert "breaker" not in timed_out.value.facts
        open_the_breaker(client, sku)
        assert breaker_state(client, "feasibility") in {"OPEN", "HALF_OPEN"}
        assert available(client, sku) == 1_000  # nothing held while refused
        # Recovery: HALF_OPEN lets its probes through, and they close it.
        fake.control(delay_ms=0)
        held = _until_closed(client, sku)
        assert available(client, sku) == 1_000 - held


def test_a_failing_check_under_accept_unverified_decides_and_says_so(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "accept_unverified")
    with server.client() as client:
        sku = stocked(client)
        fake.control(fail=True)
        held = 0
        # Every reserve is decided, marked unverified, before and after the breaker opens.
        while breaker_state(client, "feasibility") != "OPEN":
            answer = client.reserve([(sku, "L1", 1)])
            held += 1
            assert list(answer.decision.unverified) == ["feasibility"]
            assert held <= 4, "the breaker did not open after its window"
        answer = client.reserve([(sku, "L1", 1)])
        held += 1
        assert list(answer.decision.unverified) == ["feasibility"]
        assert available(client, sku) == 1_000 - held
        records = server.log_records()
        unverified = [r for r in records if r.get("dependency") == "feasibility"]
        assert unverified, "an unverified decision is logged"
        fake.control(fail=False)
        _until_closed(client, sku)
        # Closed again: checked, not marked.
        assert list(client.reserve([(sku, "L1", 1)]).decision.unverified) == []


def test_a_batch_checks_each_reserve_as_its_unary_call_would(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "refuse")
    with server.client() as client:
        good, bad = stocked(client), stocked(client)
        fake.control(infeasible_skus=[bad])
        batch = client.execute_batch(
            [
                pb.Operation(reserve=_reserve(good, 2)),
                pb.Operation(reserve=_reserve(bad, 2)),
                pb.Operation(
                    set_stock=pb.SetStockRequest(
                        sku=bad,
                        location="L1",
                        on_hand=1_005,
                        source_sequence=2,
                        as_of=Timestamp(seconds=int(time.time())),
                    )
                ),
            ]
        )
        first, second, third = batch.results
        assert first.WhichOneof("result") == "reserve"
        assert list(first.reserve.decision.unverified) == []
        assert second.WhichOneof("result") == "error"
        refusal = error_from_rpc_status(second.error)
        assert refusal.reason == "INFEASIBLE"
        assert refusal.facts["skus"] == bad
        assert third.WhichOneof("result") == "stock", error_from_rpc_status(third.error)
        assert available(client, good) == 998
        assert available(client, bad) == 1_005


def test_only_reserves_ask_the_check(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    server = checked_server(start_server, fake, "refuse")
    with server.client() as client:
        sku = stocked(client)
        held = client.reserve([(sku, "L1", 2)])
        fake.control(fail=True)
        asked = fake.control()["checks"]
        released = client.release(held.reservation.reservation_id)
        assert released.reservation.reservation_id == held.reservation.reservation_id
        assert fake.control()["checks"] == asked


def _reserve(sku: str, quantity: int, key: str = "") -> pb.ReserveRequest:
    return pb.ReserveRequest(
        lines=[pb.LineRequest(sku=sku, location="L1", quantity=quantity)], idempotency_key=key
    )


def _until_closed(client: OperationsClient, sku: str) -> int:
    """Reserve one unit at a time until the breaker is CLOSED again (a
    refused attempt waits out OPEN; the accepted ones are its probes); how
    many were held."""
    held = 0

    def closed() -> bool | None:
        nonlocal held
        if breaker_state(client, "feasibility") == "CLOSED":
            return True
        try:
            client.reserve([(sku, "L1", 1)])
        except Unavailable:
            return None
        held += 1
        return None

    until(closed)
    return held


def test_the_active_rule_set_decides_what_an_unavailable_check_means(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    """The setting is only the built-in rule set's policy: a deployed rule set
    saying accept_unverified turns a refusal into a marked acceptance, and a
    rollback brings the refusal back."""
    server = checked_server(start_server, fake, "refuse")
    with server.client(actor="ops-ana") as client:
        sku = stocked(client)
        fake.control(fail=True)
        with pytest.raises(Unavailable) as refused:
            client.reserve([(sku, "L1", 1)], channel="web")
        assert refused.value.reason == "DEPENDENCY_UNAVAILABLE"

        text = (
            'version = "lenient"\nauthor = "ana"\n'
            '[feasibility]\nwhen_unavailable = "accept_unverified"\n'
        )
        client.deploy_rule_set(text, comment="sell while the checker is down")
        client.activate_rule_set("lenient", reason="checker outage")
        answer = client.reserve([(sku, "L1", 1)], channel="web")
        assert answer.decision.rule_version == "lenient"
        assert list(answer.decision.unverified) == ["feasibility"]

        client.rollback_rule_set(reason="checker back")
        with pytest.raises(Unavailable) as refused_again:
            client.reserve([(sku, "L1", 1)], channel="web")
        assert refused_again.value.reason == "DEPENDENCY_UNAVAILABLE"
        assert available(client, sku) == 999


def test_an_unverified_hold_replays_unverified_after_the_check_recovers_and_a_restart(
    start_server: Callable[..., Server], fake: FakeFeasibility
) -> None:
    """The mark is the hold's, journaled with it: a retry under the same key
    says it, though the check would pass now, and so it does after SIGKILL."""
    server = checked_server(start_server, fake, "accept_unverified")
    with server.client() as client:
        sku = stocked(client)
        fake.control(fail=True)
        unary = client.reserve([(sku, "L1", 1)], idempotency_key="unary-1")
        batch = client.execute_batch([pb.Operation(reserve=_reserve(sku, 2, key="batch-1"))])
        assert list(unary.decision.unverified) == ["feasibility"]
        (result,) = batch.results
        assert list(result.reserve.decision.unverified) == ["feasibility"]
        fake.control(fail=False)
        verified = client.reserve([(sku, "L1", 1)], idempotency_key="verified-1")
        assert list(verified.decision.unverified) == []
    server.kill()
    server.start()
    with server.client() as client:
        asked = fake.control()["checks"]
        again = client.reserve([(sku, "L1", 1)], idempotency_key="unary-1")
        assert again.decision.replayed
        assert list(again.decision.unverified) == ["feasibility"]
        (result,) = client.execute_batch(
            [pb.Operation(reserve=_reserve(sku, 2, key="batch-1"))]
        ).results
        assert result.reserve.decision.replayed
        assert list(result.reserve.decision.unverified) == ["feasibility"]
        replayed = client.reserve([(sku, "L1", 1)], idempotency_key="verified-1")
        assert replayed.decision.replayed
        assert list(replayed.decision.unverified) == []
        # Replays ask nothing.
        assert fake.control()["checks"] == asked
        assert available(client, sku) == 1_000 - 4
