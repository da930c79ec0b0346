//! Circuit breakers, as resilience4j has them: a state machine per
//! dependency that stops calling it while it fails or is slow.
//!
//! ```text
//!            failure or slow-call rate >= threshold
//!            (once minimum_number_of_calls are in the window)
//!   CLOSED ------------------------------------------------> OPEN
//!     ^                                                      |  ^
//!     | every probe in, rates under the thresholds          |  | probes' rates
//!     |                                    wait_in_open_ms   |  | >= threshold
//!     |                               passed and a call asks v  |
//!     +------------------------------------------------- HALF_OPEN
//!
//!   any state --force_open--> FORCED_OPEN   (refuses everything)
//!   any state --disable-----> DISABLED      (permits everything, records nothing)
//!   any state --reset-------> CLOSED        (window cleared)
//! ```
//!
//! Time is data: every method takes `now_ms` and the breaker reads no clock.
//! Callers ask `try_acquire` before calling the dependency and report the
//! outcome with `on_success` / `on_failure`; results are recorded against the
//! state the breaker is in when they arrive (as resilience4j does), and
//! ignored in OPEN, FORCED_OPEN and DISABLED. Every transition is kept, with
//! its cause, until the caller drains it for metrics and logs.

mod config;
mod window;

use std::fmt;

use thiserror::Error;

pub use config::{BreakerConfig, MAX_WINDOW_CALLS};
pub use window::WindowCounts;
use window::{CallOutcome, Window};

use crate::error::Rejection;
use crate::reason::ReasonCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
    ForcedOpen,
    Disabled,
}

impl BreakerState {
    pub const ALL: [BreakerState; 5] = [
        BreakerState::Closed,
        BreakerState::Open,
        BreakerState::HalfOpen,
        BreakerState::ForcedOpen,
        BreakerState::Disabled,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            BreakerState::Closed => "CLOSED",
            BreakerState::Open => "OPEN",
            BreakerState::HalfOpen => "HALF_OPEN",
            BreakerState::ForcedOpen => "FORCED_OPEN",
            BreakerState::Disabled => "DISABLED",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why the breaker changed state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransitionCause {
    /// The failure rate reached the threshold.
    FailureRate,
    /// The slow-call rate reached the threshold.
    SlowCallRate,
    /// The wait in OPEN passed and a call asked to go through.
    WaitElapsed,
    /// Every HALF_OPEN probe came back, under both thresholds.
    ProbesPassed,
    ForcedOpen,
    Disabled,
    Reset,
}

impl TransitionCause {
    pub const fn name(self) -> &'static str {
        match self {
            TransitionCause::FailureRate => "failure_rate",
            TransitionCause::SlowCallRate => "slow_call_rate",
            TransitionCause::WaitElapsed => "wait_elapsed",
            TransitionCause::ProbesPassed => "probes_passed",
            TransitionCause::ForcedOpen => "forced_open",
            TransitionCause::Disabled => "disabled",
            TransitionCause::Reset => "reset",
        }
    }
}

/// One state change, for metrics (a counter per from/to) and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at_ms: i64,
    pub cause: TransitionCause,
}

/// Leave to call the dependency once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permit {
    /// The state that let the call through (CLOSED, HALF_OPEN or DISABLED).
    pub state: BreakerState,
}

/// The breaker said no: the dependency is not called.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("circuit breaker {breaker:?} is {state}; retry after {retry_after_ms} ms")]
pub struct Refusal {
    pub breaker: String,
    pub state: BreakerState,
    pub retry_after_ms: u64,
}

impl Refusal {
    pub const fn reason(&self) -> ReasonCode {
        ReasonCode::DEPENDENCY_UNAVAILABLE
    }
}

/// A breaker's counts at one moment. Rates are in basis points (hundredths of
/// a percent, rounded down) and None until enough calls are buffered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerMetrics {
    pub state: BreakerState,
    pub window: WindowCounts,
    pub failure_rate_bp: Option<u32>,
    pub slow_call_rate_bp: Option<u32>,
    /// Calls refused since the breaker entered its current state.
    pub not_permitted_calls: u64,
}

/// The state with what it needs to decide.
#[derive(Clone, Debug)]
enum Phase {
    Closed {
        window: Window,
    },
    /// Keeps the window that tripped it, so metrics still explain why.
    Open {
        since_ms: i64,
        window: Window,
    },
    HalfOpen {
        probes: Window,
        permits_left: u32,
    },
    ForcedOpen,
    Disabled,
}

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    name: String,
    config: BreakerConfig,
    phase: Phase,
    not_permitted: u64,
    transitions: Vec<Transition>,
}

impl CircuitBreaker {
    /// A CLOSED breaker with an empty window, or the first bad setting.
    pub fn new(name: &str, config: BreakerConfig) -> Result<Self, Rejection> {
        BreakerConfig::validate_name(name)?;
        config.validate()?;
        Ok(CircuitBreaker {
            name: name.to_owned(),
            phase: Phase::Closed {
                window: Window::new(config.sliding_window_size),
            },
            config,
            not_permitted: 0,
            transitions: Vec::new(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    pub fn state(&self) -> BreakerState {
        match self.phase {
            Phase::Closed { .. } => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
            Phase::ForcedOpen => BreakerState::ForcedOpen,
            Phase::Disabled => BreakerState::Disabled,
        }
    }

    /// Whether a call may go to the dependency now. In OPEN, the first call
    /// after the wait moves the breaker to HALF_OPEN and is its first probe.
    pub fn try_acquire(&mut self, now_ms: i64) -> Result<Permit, Refusal> {
        let retry_after_ms = match &mut self.phase {
            Phase::Closed { .. } | Phase::Disabled => {
                return Ok(Permit {
                    state: self.state(),
                })
            }
            Phase::HalfOpen { permits_left, .. } => match permits_left.checked_sub(1) {
                Some(left) => {
                    *permits_left = left;
                    return Ok(Permit {
                        state: BreakerState::HalfOpen,
                    });
                }
                None => self.config.retry_hint_ms,
            },
            Phase::Open { since_ms, .. } => {
                let waited = now_ms.saturating_sub(*since_ms).max(0).unsigned_abs();
                match self.config.wait_in_open_ms.checked_sub(waited) {
                    Some(left) if left > 0 => left,
                    Some(_) | None => {
                        self.half_open(now_ms);
                        return self.try_acquire(now_ms);
                    }
                }
            }
            Phase::ForcedOpen => self.config.retry_hint_ms,
        };
        self.not_permitted += 1;
        Err(Refusal {
            breaker: self.name.clone(),
            state: self.state(),
            retry_after_ms,
        })
    }

    /// Move OPEN to HALF_OPEN once the wait has passed, without taking a
    /// probe (resilience4j's automatic transition): a service that reports
    /// itself unhealthy while a breaker is open gets no calls to ask with,
    /// so the caller polls on a timer instead. The transition, if any.
    pub fn poll(&mut self, now_ms: i64) -> Option<Transition> {
        let Phase::Open { since_ms, .. } = self.phase else {
            return None;
        };
        let waited = now_ms.saturating_sub(since_ms).max(0).unsigned_abs();
        if waited < self.config.wait_in_open_ms {
            return None;
        }
        self.half_open(now_ms);
        self.transitions.last().copied()
    }

    /// Give back a permit whose call never reached the dependency (it ended
    /// for an unrelated reason), so HALF_OPEN does not wait for a result
    /// that will never come (resilience4j's `releasePermission`).
    pub fn release_permit(&mut self) {
        if let Phase::HalfOpen { permits_left, .. } = &mut self.phase {
            *permits_left = (*permits_left + 1).min(self.config.permitted_calls_in_half_open);
        }
    }

    /// The dependency answered well, after `duration_ms`.
    pub fn on_success(&mut self, now_ms: i64, duration_ms: u64) {
        self.record(now_ms, false, duration_ms);
    }

    /// The dependency failed (error or timeout), after `duration_ms`.
    pub fn on_failure(&mut self, now_ms: i64, duration_ms: u64) {
        self.record(now_ms, true, duration_ms);
    }

    fn record(&mut self, now_ms: i64, failed: bool, duration_ms: u64) {
        let outcome = CallOutcome {
            failed,
            slow: duration_ms > self.config.slow_call_duration_ms,
        };
        let config = &self.config;
        let verdict = match &mut self.phase {
            Phase::Closed { window } => {
                window.record(outcome);
                Self::verdict(config, window.counts(), config.minimum_number_of_calls)
            }
            Phase::HalfOpen { probes, .. } => {
                probes.record(outcome);
                let counts = probes.counts();
                let all_in = config.permitted_calls_in_half_open;
                match Self::verdict(config, counts, all_in) {
                    Some(cause) => Some(cause),
                    None if counts.buffered_calls >= all_in => {
                        self.close(now_ms, TransitionCause::ProbesPassed);
                        return;
                    }
                    None => None,
                }
            }
            Phase::Open { .. } | Phase::ForcedOpen | Phase::Disabled => None,
        };
        if let Some(cause) = verdict {
            self.open(now_ms, cause);
        }
    }

    /// Which threshold the window reaches, once it holds `minimum_calls`.
    fn verdict(
        config: &BreakerConfig,
        counts: WindowCounts,
        minimum_calls: u32,
    ) -> Option<TransitionCause> {
        if counts.buffered_calls < minimum_calls {
            None
        } else if counts.reaches(counts.failed_calls, config.failure_rate_threshold) {
            Some(TransitionCause::FailureRate)
        } else if counts.reaches(counts.slow_calls, config.slow_call_rate_threshold) {
            Some(TransitionCause::SlowCallRate)
        } else {
            None
        }
    }

    // Transitions. Automatic ones are private: only the window decides them.

    fn open(&mut self, now_ms: i64, cause: TransitionCause) {
        // Take the window out without allocating; the phase is replaced next.
        let window = match &mut self.phase {
            Phase::Closed { window } | Phase::Open { window, .. } => {
                std::mem::replace(window, Window::new(0))
            }
            Phase::HalfOpen { probes, .. } => std::mem::replace(probes, Window::new(0)),
            Phase::ForcedOpen | Phase::Disabled => Window::new(self.config.sliding_window_size),
        };
        self.enter(
            Phase::Open {
                since_ms: now_ms,
                window,
            },
            now_ms,
            cause,
        );
    }

    fn half_open(&mut self, now_ms: i64) {
        let phase = Phase::HalfOpen {
            probes: Window::new(self.config.permitted_calls_in_half_open),
            permits_left: self.config.permitted_calls_in_half_open,
        };
        self.enter(phase, now_ms, TransitionCause::WaitElapsed);
    }

    fn close(&mut self, now_ms: i64, cause: TransitionCause) {
        let phase = Phase::Closed {
            window: Window::new(self.config.sliding_window_size),
        };
        self.enter(phase, now_ms, cause);
    }

    /// Operator: refuse every call until `reset`. None if already forced open.
    pub fn force_open(&mut self, now_ms: i64) -> Option<Transition> {
        match self.phase {
            Phase::ForcedOpen => None,
            Phase::Closed { .. }
            | Phase::Open { .. }
            | Phase::HalfOpen { .. }
            | Phase::Disabled => {
                Some(self.enter(Phase::ForcedOpen, now_ms, TransitionCause::ForcedOpen))
            }
        }
    }

    /// Operator: permit every call and record nothing until `reset`.
    /// None if already disabled.
    pub fn disable(&mut self, now_ms: i64) -> Option<Transition> {
        match self.phase {
            Phase::Disabled => None,
            Phase::Closed { .. }
            | Phase::Open { .. }
            | Phase::HalfOpen { .. }
            | Phase::ForcedOpen => {
                Some(self.enter(Phase::Disabled, now_ms, TransitionCause::Disabled))
            }
        }
    }

    /// Operator: back to CLOSED with an empty window, from any state
    /// (recorded even from CLOSED, since it forgets the window).
    pub fn reset(&mut self, now_ms: i64) -> Transition {
        let phase = Phase::Closed {
            window: Window::new(self.config.sliding_window_size),
        };
        self.enter(phase, now_ms, TransitionCause::Reset)
    }

    fn enter(&mut self, phase: Phase, now_ms: i64, cause: TransitionCause) -> Transition {
        let from = self.state();
        self.phase = phase;
        self.not_permitted = 0;
        let transition = Transition {
            from,
            to: self.state(),
            at_ms: now_ms,
            cause,
        };
        self.transitions.push(transition);
        transition
    }

    /// Transitions since the last drain, oldest first. Callers drain after
    /// each use so the list stays short.
    pub fn drain_transitions(&mut self) -> Vec<Transition> {
        std::mem::take(&mut self.transitions)
    }

    pub fn metrics(&self) -> BreakerMetrics {
        let (window, minimum_calls) = match &self.phase {
            Phase::Closed { window } | Phase::Open { window, .. } => {
                (window.counts(), self.config.minimum_number_of_calls)
            }
            Phase::HalfOpen { probes, .. } => {
                (probes.counts(), self.config.permitted_calls_in_half_open)
            }
            Phase::ForcedOpen | Phase::Disabled => (WindowCounts::default(), 1),
        };
        BreakerMetrics {
            state: self.state(),
            window,
            failure_rate_bp: window.failure_rate_bp(minimum_calls),
            slow_call_rate_bp: window.slow_call_rate_bp(minimum_calls),
            not_permitted_calls: self.not_permitted,
        }
    }
}
