//! The circuit breaker's transitions, table-driven, with explicit time: each
//! case drives a fresh breaker through a script of calls and says what every
//! step must answer.

use holdfast_core::breaker::{
    BreakerConfig, BreakerState, CircuitBreaker, Refusal, Transition, TransitionCause as C,
};

use holdfast_core::ReasonCode;
use BreakerState::*;

/// Window of 4, evaluated from 4 calls, trips at 50 %; slow is > 100 ms and
/// trips at 50 %; OPEN waits 1 s; HALF_OPEN lets 2 probes through.
fn config() -> BreakerConfig {
    BreakerConfig {
        failure_rate_threshold: 50,
        slow_call_rate_threshold: 50,
        slow_call_duration_ms: 100,
        sliding_window_size: 4,
        minimum_number_of_calls: 4,
        wait_in_open_ms: 1_000,
        permitted_calls_in_half_open: 2,
        retry_hint_ms: 250,
    }
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// A permitted call at `at` that succeeds after `took` ms.
    Ok {
        at: i64,
        took: u64,
    },
    /// A permitted call at `at` that fails after `took` ms.
    Fail {
        at: i64,
        took: u64,
    },
    /// Only the permit: a call at `at` still in flight.
    Acquired {
        at: i64,
    },
    /// Only the result: a call in flight succeeds at `at` after `took` ms.
    Succeeded {
        at: i64,
        took: u64,
    },
    /// A call at `at` that must be refused with this retry-after.
    Refused {
        at: i64,
        retry_after_ms: u64,
    },
    ForceOpen {
        at: i64,
    },
    Disable {
        at: i64,
    },
    Reset {
        at: i64,
    },
}
use Step::*;

/// Runs `steps`, checking the state after each; returns the transitions.
fn run(steps: &[(Step, BreakerState)]) -> (CircuitBreaker, Vec<Transition>) {
    let mut breaker = CircuitBreaker::new("journal", config()).unwrap();
    for (i, (step, expected)) in steps.iter().enumerate() {
        match *step {
            Ok { at, took } | Fail { at, took } => {
                let permit = breaker.try_acquire(at);
                assert!(permit.is_ok(), "step {i} {step:?}: refused: {permit:?}");
                if matches!(step, Fail { .. }) {
                    breaker.on_failure(at + took as i64, took);
                } else {
                    breaker.on_success(at + took as i64, took);
                }
            }
            Acquired { at } => {
                let permit = breaker.try_acquire(at);
                assert!(permit.is_ok(), "step {i} {step:?}: refused: {permit:?}");
            }
            Succeeded { at, took } => breaker.on_success(at, took),
            Refused { at, retry_after_ms } => {
                let state = breaker.state();
                assert_eq!(
                    breaker.try_acquire(at),
                    Err(Refusal {
                        breaker: "journal".to_owned(),
                        state,
                        retry_after_ms
                    }),
                    "step {i} {step:?}"
                );
            }
            ForceOpen { at } => {
                breaker.force_open(at);
            }
            Disable { at } => {
                breaker.disable(at);
            }
            Reset { at } => {
                breaker.reset(at);
            }
        }
        assert_eq!(breaker.state(), *expected, "after step {i} {step:?}");
    }
    let transitions = breaker.drain_transitions();
    (breaker, transitions)
}

fn t(from: BreakerState, to: BreakerState, at_ms: i64, cause: C) -> Transition {
    Transition {
        from,
        to,
        at_ms,
        cause,
    }
}

/// Four calls, two failed: exactly at the 50 % threshold, which trips.
const TRIP: [(Step, BreakerState); 4] = [
    (Ok { at: 0, took: 10 }, Closed),
    (Fail { at: 10, took: 10 }, Closed),
    (Ok { at: 20, took: 10 }, Closed),
    (Fail { at: 30, took: 10 }, Open),
];

/// (what the case shows, its steps, the transitions it must record).
type Case = (&'static str, Vec<(Step, BreakerState)>, Vec<Transition>);

#[test]
fn every_transition() {
    let cases: Vec<Case> = vec![
        (
            "closed -> open when the failure rate reaches the threshold",
            TRIP.to_vec(),
            vec![t(Closed, Open, 40, C::FailureRate)],
        ),
        (
            "one under the threshold stays closed; the window slides",
            vec![
                (Ok { at: 0, took: 1 }, Closed),
                (Fail { at: 1, took: 1 }, Closed),
                (Ok { at: 2, took: 1 }, Closed),
                (Ok { at: 3, took: 1 }, Closed), // 1 of 4 failed: 25 %
                (Ok { at: 4, took: 1 }, Closed), // the first call slides out
                (Fail { at: 5, took: 1 }, Closed), // the old failure slid out: still 1 of 4
            ],
            vec![],
        ),
        (
            "closed -> open on the slow-call rate, even when every call succeeds",
            vec![
                (Ok { at: 0, took: 101 }, Closed),
                (Ok { at: 200, took: 100 }, Closed), // exactly the duration: not slow
                (Ok { at: 400, took: 5 }, Closed),
                (Ok { at: 500, took: 500 }, Open),
            ],
            vec![t(Closed, Open, 1_000, C::SlowCallRate)],
        ),
        (
            "not before the minimum number of calls",
            vec![
                (Fail { at: 0, took: 1 }, Closed),
                (Fail { at: 1, took: 1 }, Closed),
                (Fail { at: 2, took: 1 }, Closed),
                (Fail { at: 3, took: 1 }, Open),
            ],
            vec![t(Closed, Open, 4, C::FailureRate)],
        ),
        (
            "open refuses with the time left, then half-opens after the wait",
            [
                &TRIP[..],
                &[
                    (
                        Refused {
                            at: 40,
                            retry_after_ms: 1_000,
                        },
                        Open,
                    ),
                    (
                        Refused {
                            at: 540,
                            retry_after_ms: 500,
                        },
                        Open,
                    ),
                    (
                        Refused {
                            at: 1_039,
                            retry_after_ms: 1,
                        },
                        Open,
                    ),
                    (Ok { at: 1_040, took: 5 }, HalfOpen),
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, HalfOpen, 1_040, C::WaitElapsed),
            ],
        ),
        (
            "a clock that goes back never waits longer than wait_in_open",
            [
                &TRIP[..],
                &[(
                    Refused {
                        at: 0,
                        retry_after_ms: 1_000,
                    },
                    Open,
                )],
            ]
            .concat(),
            vec![t(Closed, Open, 40, C::FailureRate)],
        ),
        (
            "half-open permits exactly N, refuses the rest with the hint, then closes",
            [
                &TRIP[..],
                &[
                    (Acquired { at: 2_000 }, HalfOpen),
                    (Acquired { at: 2_001 }, HalfOpen),
                    (
                        Refused {
                            at: 2_002,
                            retry_after_ms: 250,
                        },
                        HalfOpen,
                    ),
                    (
                        Succeeded {
                            at: 2_010,
                            took: 10,
                        },
                        HalfOpen,
                    ),
                    (
                        Refused {
                            at: 2_011,
                            retry_after_ms: 250,
                        },
                        HalfOpen,
                    ),
                    (
                        Succeeded {
                            at: 2_020,
                            took: 19,
                        },
                        Closed,
                    ),
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, HalfOpen, 2_000, C::WaitElapsed),
                t(HalfOpen, Closed, 2_020, C::ProbesPassed),
            ],
        ),
        (
            "half-open closes when every probe is under both thresholds",
            [
                &TRIP[..],
                &[
                    (Ok { at: 2_000, took: 5 }, HalfOpen),
                    (Ok { at: 2_010, took: 5 }, Closed),
                    (Fail { at: 2_020, took: 5 }, Closed), // a fresh window
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, HalfOpen, 2_000, C::WaitElapsed),
                t(HalfOpen, Closed, 2_015, C::ProbesPassed),
            ],
        ),
        (
            "half-open re-opens when the probes fail, and waits again",
            [
                &TRIP[..],
                &[
                    (Ok { at: 2_000, took: 5 }, HalfOpen),
                    (Fail { at: 2_010, took: 5 }, Open),
                    (
                        Refused {
                            at: 2_015,
                            retry_after_ms: 1_000,
                        },
                        Open,
                    ),
                    (Ok { at: 3_015, took: 5 }, HalfOpen),
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, HalfOpen, 2_000, C::WaitElapsed),
                t(HalfOpen, Open, 2_015, C::FailureRate),
                t(Open, HalfOpen, 3_015, C::WaitElapsed),
            ],
        ),
        (
            "half-open re-opens on slow probes",
            [
                &TRIP[..],
                &[
                    (
                        Ok {
                            at: 2_000,
                            took: 150,
                        },
                        HalfOpen,
                    ),
                    (Ok { at: 2_010, took: 5 }, Open),
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, HalfOpen, 2_000, C::WaitElapsed),
                t(HalfOpen, Open, 2_015, C::SlowCallRate),
            ],
        ),
        (
            "forced open refuses with the hint, whatever the time, until reset",
            vec![
                (ForceOpen { at: 5 }, ForcedOpen),
                (
                    Refused {
                        at: 6,
                        retry_after_ms: 250,
                    },
                    ForcedOpen,
                ),
                (
                    Refused {
                        at: 1_000_000,
                        retry_after_ms: 250,
                    },
                    ForcedOpen,
                ),
                (ForceOpen { at: 1_000_001 }, ForcedOpen), // no second transition
                (Reset { at: 1_000_002 }, Closed),
                (
                    Ok {
                        at: 1_000_003,
                        took: 1,
                    },
                    Closed,
                ),
            ],
            vec![
                t(Closed, ForcedOpen, 5, C::ForcedOpen),
                t(ForcedOpen, Closed, 1_000_002, C::Reset),
            ],
        ),
        (
            "disabled permits everything and records nothing",
            vec![
                (Disable { at: 1 }, Disabled),
                (Fail { at: 2, took: 1_000 }, Disabled),
                (Fail { at: 3, took: 1_000 }, Disabled),
                (Fail { at: 4, took: 1_000 }, Disabled),
                (Fail { at: 5, took: 1_000 }, Disabled),
                (Disable { at: 6 }, Disabled),
                (Reset { at: 7 }, Closed),
                (Fail { at: 8, took: 1 }, Closed), // the disabled failures left no trace
            ],
            vec![
                t(Closed, Disabled, 1, C::Disabled),
                t(Disabled, Closed, 7, C::Reset),
            ],
        ),
        (
            "operators move between forced open and disabled, from open too",
            [
                &TRIP[..],
                &[
                    (ForceOpen { at: 50 }, ForcedOpen),
                    (Disable { at: 60 }, Disabled),
                    (ForceOpen { at: 70 }, ForcedOpen),
                ],
            ]
            .concat(),
            vec![
                t(Closed, Open, 40, C::FailureRate),
                t(Open, ForcedOpen, 50, C::ForcedOpen),
                t(ForcedOpen, Disabled, 60, C::Disabled),
                t(Disabled, ForcedOpen, 70, C::ForcedOpen),
            ],
        ),
        (
            "reset clears the window: three old failures do not count",
            vec![
                (Fail { at: 0, took: 1 }, Closed),
                (Fail { at: 1, took: 1 }, Closed),
                (Fail { at: 2, took: 1 }, Closed),
                (Reset { at: 3 }, Closed),
                (Fail { at: 4, took: 1 }, Closed),
                (Ok { at: 5, took: 1 }, Closed),
                (Ok { at: 6, took: 1 }, Closed),
                (Ok { at: 7, took: 1 }, Closed),
            ],
            vec![t(Closed, Closed, 3, C::Reset)],
        ),
    ];
    for (name, steps, transitions) in cases {
        let (_, seen) = run(&steps);
        assert_eq!(seen, transitions, "{name}");
    }
}

#[test]
fn thresholds_are_compared_exactly_in_integers() {
    // (threshold %, failures out of 3 calls, trips?): 1 of 3 is 33.33... %.
    let cases = [
        (33, 1, true),
        (34, 1, false),
        (66, 2, true),
        (67, 2, false),
        (100, 3, true),
    ];
    for (threshold, failures, trips) in cases {
        let config = BreakerConfig {
            failure_rate_threshold: threshold,
            sliding_window_size: 3,
            minimum_number_of_calls: 3,
            ..config()
        };
        let mut breaker = CircuitBreaker::new("events", config).unwrap();
        for call in 0..3 {
            breaker.try_acquire(call).unwrap();
            if call < failures {
                breaker.on_failure(call, 1);
            } else {
                breaker.on_success(call, 1);
            }
        }
        let expected = if trips { Open } else { Closed };
        assert_eq!(breaker.state(), expected, "{failures}/3 at {threshold} %");
    }
}

#[test]
fn metrics_count_the_window_and_the_refusals() {
    let (mut breaker, _) = run(&TRIP);
    let metrics = breaker.metrics();
    assert_eq!(metrics.state, Open);
    assert_eq!(
        (
            metrics.window.buffered_calls,
            metrics.window.failed_calls,
            metrics.window.slow_calls
        ),
        (4, 2, 0)
    );
    assert_eq!(metrics.failure_rate_bp, Some(5_000));
    assert_eq!(metrics.slow_call_rate_bp, Some(0));
    let refusal = breaker.try_acquire(41).unwrap_err();
    assert_eq!(refusal.reason(), ReasonCode::DEPENDENCY_UNAVAILABLE);
    assert_eq!(
        refusal.to_string(),
        "circuit breaker \"journal\" is OPEN; retry after 999 ms"
    );
    breaker.try_acquire(42).unwrap_err();
    assert_eq!(breaker.metrics().not_permitted_calls, 2);

    let mut fresh = CircuitBreaker::new("journal", config()).unwrap();
    fresh.try_acquire(0).unwrap();
    fresh.on_failure(0, 500);
    let metrics = fresh.metrics();
    assert_eq!(metrics.window.buffered_calls, 1);
    assert_eq!(metrics.failure_rate_bp, None, "rates wait for the minimum");
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let cases: Vec<(&str, BreakerConfig, &str)> = vec![
        (
            "journal",
            BreakerConfig {
                failure_rate_threshold: 0,
                ..config()
            },
            "failure_rate_threshold",
        ),
        (
            "journal",
            BreakerConfig {
                slow_call_rate_threshold: 101,
                ..config()
            },
            "slow_call_rate_threshold",
        ),
        (
            "journal",
            BreakerConfig {
                sliding_window_size: 0,
                ..config()
            },
            "sliding_window_size",
        ),
        (
            "journal",
            BreakerConfig {
                minimum_number_of_calls: 5,
                ..config()
            },
            "minimum_number_of_calls",
        ),
        (
            "journal",
            BreakerConfig {
                permitted_calls_in_half_open: 0,
                ..config()
            },
            "permitted_calls_in_half_open",
        ),
        (
            "journal",
            BreakerConfig {
                wait_in_open_ms: 0,
                ..config()
            },
            "wait_in_open_ms",
        ),
        ("", config(), "name"),
    ];
    for (name, config, field) in cases {
        let rejection = CircuitBreaker::new(name, config).unwrap_err();
        assert_eq!(rejection.reason(), ReasonCode::INVALID_ARGUMENT);
        assert!(
            rejection.to_string().contains(field),
            "{rejection} names {field}"
        );
    }
    assert!(CircuitBreaker::new("journal", BreakerConfig::default()).is_ok());
}

#[test]
fn poll_half_opens_after_the_wait_without_taking_a_probe() {
    let mut breaker = CircuitBreaker::new("journal", config()).unwrap();
    for at in 0..4 {
        breaker.try_acquire(at).unwrap();
        breaker.on_failure(at, 1);
    }
    assert_eq!(breaker.state(), Open);
    assert_eq!(breaker.poll(1_002), None, "the wait has not passed");
    assert_eq!(breaker.state(), Open);
    let moved = breaker.poll(1_003).expect("the wait has passed");
    assert_eq!(moved, t(Open, HalfOpen, 1_003, C::WaitElapsed));
    // Both probes are still there to be taken.
    assert!(breaker.try_acquire(1_004).is_ok());
    assert!(breaker.try_acquire(1_004).is_ok());
    assert!(breaker.try_acquire(1_004).is_err());
    // Nothing to do outside OPEN.
    assert_eq!(breaker.poll(9_999), None);
    breaker.force_open(10_000);
    assert_eq!(
        breaker.poll(99_999),
        None,
        "FORCED_OPEN waits for an operator"
    );
}

#[test]
fn a_released_permit_can_be_taken_again_in_half_open() {
    let mut breaker = CircuitBreaker::new("journal", config()).unwrap();
    for at in 0..4 {
        breaker.try_acquire(at).unwrap();
        breaker.on_failure(at, 1);
    }
    breaker.poll(2_000).unwrap();
    assert!(breaker.try_acquire(2_001).is_ok());
    assert!(breaker.try_acquire(2_001).is_ok());
    assert!(breaker.try_acquire(2_001).is_err());
    breaker.release_permit();
    assert!(breaker.try_acquire(2_002).is_ok());
    // Never more than the configured probes.
    breaker.release_permit();
    breaker.release_permit();
    breaker.release_permit();
    assert!(breaker.try_acquire(2_003).is_ok());
    assert!(breaker.try_acquire(2_003).is_ok());
    assert!(breaker.try_acquire(2_003).is_err());
}
