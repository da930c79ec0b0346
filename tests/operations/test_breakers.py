"""ListCircuitBreakers / SetCircuitBreaker over a real server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from holdfast.client import InvalidArgument, OperationsClient
from holdfast.v1 import operations_pb2 as pb
from operations_support import OpsServer

# The breaker these tests operate: nothing in this server calls it (no
# feasibility URL), so forcing it open refuses nobody else's calls.
NAME = "feasibility"


@pytest.fixture
def reset_after(ops: OperationsClient) -> Iterator[None]:
    yield
    ops.set_circuit_breaker(NAME, "reset", reason="test over")


def test_lists_every_breaker_with_its_window_and_settings(ops: OperationsClient) -> None:
    breakers = {b.name: b for b in ops.list_circuit_breakers().breakers}
    assert set(breakers) == {"journal", "events", "feasibility"}
    journal = breakers["journal"]
    assert journal.state == pb.CLOSED
    # Rates are -1 until the window holds its minimum number of calls.
    assert journal.failure_rate_percent == -1
    assert journal.slow_call_rate_percent == -1
    assert journal.failure_rate_threshold_percent == 50
    assert journal.minimum_number_of_calls == 20
    assert journal.wait_in_open_ms == 5_000
    assert journal.since.seconds > 0


@pytest.mark.usefixtures("reset_after")
def test_force_open_disable_reset_show_in_the_view(ops: OperationsClient) -> None:
    forced = ops.set_circuit_breaker(NAME, "force_open", reason="vendor outage")
    assert forced.state == pb.FORCED_OPEN
    assert forced.cause == "forced_open"
    listed = {b.name: b for b in ops.list_circuit_breakers().breakers}
    assert listed[NAME].state == pb.FORCED_OPEN
    assert listed["journal"].state == pb.CLOSED

    disabled = ops.set_circuit_breaker(NAME, pb.SetCircuitBreakerRequest.DISABLE, reason="drill")
    assert (disabled.state, disabled.cause) == (pb.DISABLED, "disabled")
    reset = ops.set_circuit_breaker(NAME, "reset", reason="vendor back")
    assert (reset.state, reset.cause) == (pb.CLOSED, "reset")

    actions = ops.list_operator_actions(page_size=3).actions
    assert [(a.action, a.target, a.reason, a.outcome, a.actor) for a in actions] == [
        ("breaker.reset", NAME, "vendor back", "OK", "ops-alice"),
        ("breaker.disable", NAME, "drill", "OK", "ops-alice"),
        ("breaker.force_open", NAME, "vendor outage", "OK", "ops-alice"),
    ]
    assert all(a.request_id for a in actions)


@pytest.mark.parametrize("actor", [None, "anonymous", ""])
def test_an_operator_must_name_themselves(server: OpsServer, actor: str | None) -> None:
    with OperationsClient(server.target, actor=actor) as nobody:
        with pytest.raises(InvalidArgument) as refused:
            nobody.set_circuit_breaker(NAME, "force_open", reason="who am I")
        assert refused.value.facts["field"] == "actor"
        states = {b.name: b.state for b in nobody.list_circuit_breakers().breakers}
        assert states[NAME] == pb.CLOSED


@pytest.mark.parametrize("reason", ["", "   ", "x" * 1025])
def test_a_reason_is_required_and_bounded(ops: OperationsClient, reason: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ops.set_circuit_breaker(NAME, "force_open", reason=reason)
    assert refused.value.facts["field"] == "reason"
    assert {b.name: b.state for b in ops.list_circuit_breakers().breakers}[NAME] == pb.CLOSED


@pytest.mark.usefixtures("reset_after")
def test_a_reason_of_1024_characters_is_accepted(ops: OperationsClient) -> None:
    assert ops.set_circuit_breaker(NAME, "disable", reason="y" * 1024).state == pb.DISABLED


def test_an_unknown_breaker_is_refused_naming_the_known_ones(ops: OperationsClient) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ops.set_circuit_breaker("redis", "force_open", reason="no such thing")
    assert refused.value.facts["field"] == "name"
    for known in ("journal", "events", "feasibility"):
        assert known in refused.value.message


def test_an_unspecified_action_is_refused(ops: OperationsClient) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ops.set_circuit_breaker(NAME, pb.SetCircuitBreakerRequest.ACTION_UNSPECIFIED, reason="?")
    assert refused.value.facts["field"] == "action"
