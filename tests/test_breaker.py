"""The circuit breaker through the binding: one full cycle with explicit time
(CLOSED -> OPEN -> HALF_OPEN -> OPEN -> HALF_OPEN -> CLOSED), then the
operator states. The transition rules themselves are tested in the core
(rust/core/tests/breaker.rs); this checks that Python sees the same machine."""

import pytest
from holdfast import REASONS, BreakerPermit, BreakerRefusal, CircuitBreaker


def journal_breaker() -> CircuitBreaker:
    return CircuitBreaker(
        "journal",
        failure_rate_threshold=50,
        slow_call_rate_threshold=50,
        slow_call_duration_ms=100,
        sliding_window_size=4,
        minimum_number_of_calls=4,
        wait_in_open_ms=1_000,
        permitted_calls_in_half_open=2,
        retry_hint_ms=250,
    )


def call(breaker: CircuitBreaker, at: int, *, fails: bool, took: int = 5) -> None:
    permit = breaker.try_acquire(at)
    assert isinstance(permit, BreakerPermit), permit
    if fails:
        breaker.on_failure(at + took, took)
    else:
        breaker.on_success(at + took, took)


def refusal(breaker: CircuitBreaker, at: int) -> BreakerRefusal:
    answer = breaker.try_acquire(at)
    assert isinstance(answer, BreakerRefusal), answer
    return answer


def test_a_full_cycle_with_explicit_time() -> None:
    breaker = journal_breaker()
    for at, fails in [(0, False), (10, True), (20, False)]:
        call(breaker, at, fails=fails)
    assert breaker.state() == "CLOSED"
    assert breaker.metrics()["failure_rate_bp"] is None  # fewer than the minimum
    call(breaker, 30, fails=True)  # 2 of 4 failed: at the threshold, which trips
    assert breaker.state() == "OPEN"
    metrics = breaker.metrics()
    assert (metrics["buffered_calls"], metrics["failed_calls"]) == (4, 2)
    assert metrics["failure_rate_bp"] == 5_000

    refused = refusal(breaker, 535)
    assert (refused.breaker, refused.state, refused.retry_after_ms) == ("journal", "OPEN", 500)
    assert not refused.permitted
    assert refused.reason == "DEPENDENCY_UNAVAILABLE"
    assert REASONS[refused.reason].retryable
    assert breaker.metrics()["not_permitted_calls"] == 1

    # The wait is over: the next call is the first probe; slow probes re-open.
    call(breaker, 1_035, fails=False, took=150)
    assert breaker.state() == "HALF_OPEN"
    call(breaker, 1_040, fails=False)
    assert breaker.state() == "OPEN"

    # Probes again: exactly two go through, the third is told to come back.
    first = breaker.try_acquire(2_045)
    second = breaker.try_acquire(2_046)
    assert first.permitted
    assert second.permitted
    assert first.state == "HALF_OPEN"
    assert refusal(breaker, 2_047).retry_after_ms == 250
    breaker.on_success(2_050, 5)
    breaker.on_success(2_051, 5)
    assert breaker.state() == "CLOSED"
    assert breaker.metrics()["buffered_calls"] == 0  # a fresh window

    assert [
        (t["from_state"], t["to_state"], t["at"], t["cause"]) for t in breaker.drain_transitions()
    ] == [
        ("CLOSED", "OPEN", 35, "failure_rate"),
        ("OPEN", "HALF_OPEN", 1_035, "wait_elapsed"),
        ("HALF_OPEN", "OPEN", 1_045, "slow_call_rate"),
        ("OPEN", "HALF_OPEN", 2_045, "wait_elapsed"),
        ("HALF_OPEN", "CLOSED", 2_051, "probes_passed"),
    ]
    assert breaker.drain_transitions() == []


def test_operator_states() -> None:
    breaker = journal_breaker()
    assert breaker.force_open(1)
    assert not breaker.force_open(2)  # already forced open: no transition
    refused = refusal(breaker, 10_000_000)
    assert (refused.state, refused.retry_after_ms) == ("FORCED_OPEN", 250)

    assert breaker.disable(3)
    for at in range(4, 12):
        call(breaker, at, fails=True)
    assert breaker.state() == "DISABLED"
    assert breaker.metrics()["buffered_calls"] == 0  # disabled records nothing

    breaker.reset(20)
    assert breaker.state() == "CLOSED"
    assert [t["cause"] for t in breaker.drain_transitions()] == ["forced_open", "disabled", "reset"]


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"slow_call_rate_threshold": 101}, "slow_call_rate_threshold"),
        ({"sliding_window_size": -1}, "sliding_window_size"),
        ({"minimum_number_of_calls": 5}, "minimum_number_of_calls"),
        ({"wait_in_open_ms": 0}, "wait_in_open_ms"),
    ],
)
def test_bad_settings_name_the_field(settings: dict[str, int], field: str) -> None:
    base = {"sliding_window_size": 4, "minimum_number_of_calls": 4}
    with pytest.raises(ValueError, match=field):
        CircuitBreaker("journal", **{**base, **settings})


def test_a_negative_duration_is_refused() -> None:
    breaker = journal_breaker()
    with pytest.raises(ValueError, match="duration_ms"):
        breaker.on_success(0, -1)
