//! A breaker's settings, checked once when the breaker is built.

use crate::error::Rejection;
use crate::limits;

/// Largest sliding window (and half-open probe count): bounds each breaker's
/// memory to a few kilobytes whatever the configuration says.
pub const MAX_WINDOW_CALLS: u32 = 10_000;

/// Settings of one breaker; defaults are resilience4j's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Percent (1..=100) of failed calls in the window at which the breaker opens.
    pub failure_rate_threshold: u32,
    /// Percent (1..=100) of slow calls in the window at which the breaker opens.
    pub slow_call_rate_threshold: u32,
    /// A call that takes longer than this (strictly) is slow.
    pub slow_call_duration_ms: u64,
    /// Count-based sliding window: the outcomes of the last N calls.
    pub sliding_window_size: u32,
    /// Rates are not evaluated until the window holds this many calls.
    pub minimum_number_of_calls: u32,
    /// How long OPEN refuses before the next call becomes a HALF_OPEN probe.
    pub wait_in_open_ms: u64,
    /// Probes let through in HALF_OPEN; their outcome decides CLOSED or OPEN.
    pub permitted_calls_in_half_open: u32,
    /// Retry-after given when no timer says how long to wait (FORCED_OPEN, or
    /// HALF_OPEN with every probe out).
    pub retry_hint_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_rate_threshold: 50,
            slow_call_rate_threshold: 100,
            slow_call_duration_ms: 60_000,
            sliding_window_size: 100,
            minimum_number_of_calls: 100,
            wait_in_open_ms: 60_000,
            permitted_calls_in_half_open: 10,
            retry_hint_ms: 1_000,
        }
    }
}

impl BreakerConfig {
    /// The first setting out of its range, named, as `INVALID_ARGUMENT`.
    pub fn validate(&self) -> Result<(), Rejection> {
        let percent = |field: &str, value: u32| match value {
            1..=100 => Ok(()),
            _ => Err(Rejection::invalid(field, "must be a percent in 1..=100")),
        };
        let calls = |field: &str, value: u32| match value {
            1..=MAX_WINDOW_CALLS => Ok(()),
            _ => Err(Rejection::invalid(
                field,
                format!("must be in 1..={MAX_WINDOW_CALLS}"),
            )),
        };
        percent("failure_rate_threshold", self.failure_rate_threshold)?;
        percent("slow_call_rate_threshold", self.slow_call_rate_threshold)?;
        calls("sliding_window_size", self.sliding_window_size)?;
        calls("minimum_number_of_calls", self.minimum_number_of_calls)?;
        calls(
            "permitted_calls_in_half_open",
            self.permitted_calls_in_half_open,
        )?;
        // resilience4j silently lowers the minimum to the window size; a
        // breaker that could never evaluate is a configuration mistake, so say so.
        if self.minimum_number_of_calls > self.sliding_window_size {
            return Err(Rejection::invalid(
                "minimum_number_of_calls",
                "must not exceed sliding_window_size",
            ));
        }
        if self.wait_in_open_ms == 0 {
            return Err(Rejection::invalid("wait_in_open_ms", "must be at least 1"));
        }
        Ok(())
    }

    pub(crate) fn validate_name(name: &str) -> Result<(), Rejection> {
        limits::name("name", name)
    }
}
