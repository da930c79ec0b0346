//! The count-based sliding window: the outcomes of the last N calls, with
//! running counts so recording and asking for a rate cost O(1).
//!
//! Rates are compared in integers: `failed * 100 >= threshold * calls`, so a
//! window exactly at the threshold trips (as resilience4j's `>=` does) and no
//! float rounding decides either way.

/// What one finished call contributes to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CallOutcome {
    pub failed: bool,
    pub slow: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Window {
    /// Ring of outcomes; `next` is where the following call goes once full.
    calls: Vec<CallOutcome>,
    capacity: usize,
    next: usize,
    failed: u32,
    slow: u32,
}

/// Counts of a window at one moment, and its rates in basis points
/// (hundredths of a percent, rounded down) once there are enough calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WindowCounts {
    pub buffered_calls: u32,
    pub failed_calls: u32,
    pub slow_calls: u32,
}

impl Window {
    pub(crate) fn new(capacity: u32) -> Self {
        let capacity = capacity as usize;
        Window {
            calls: Vec::with_capacity(capacity),
            capacity,
            next: 0,
            failed: 0,
            slow: 0,
        }
    }

    pub(crate) fn record(&mut self, outcome: CallOutcome) {
        if self.calls.len() < self.capacity {
            self.calls.push(outcome);
        } else {
            let evicted = std::mem::replace(&mut self.calls[self.next], outcome);
            self.failed -= u32::from(evicted.failed);
            self.slow -= u32::from(evicted.slow);
            self.next = (self.next + 1) % self.capacity;
        }
        self.failed += u32::from(outcome.failed);
        self.slow += u32::from(outcome.slow);
        #[cfg(feature = "check-invariants")]
        self.check();
    }

    pub(crate) fn counts(&self) -> WindowCounts {
        WindowCounts {
            // Never above MAX_WINDOW_CALLS, so it fits.
            buffered_calls: self.calls.len() as u32,
            failed_calls: self.failed,
            slow_calls: self.slow,
        }
    }

    #[cfg(feature = "check-invariants")]
    fn check(&self) {
        let failed = self.calls.iter().filter(|c| c.failed).count() as u32;
        let slow = self.calls.iter().filter(|c| c.slow).count() as u32;
        assert!(self.calls.len() <= self.capacity, "window over capacity");
        assert_eq!(
            (failed, slow),
            (self.failed, self.slow),
            "window counts drifted"
        );
    }
}

impl WindowCounts {
    /// Whether `part` of the buffered calls reaches `threshold_percent`.
    pub(crate) fn reaches(self, part: u32, threshold_percent: u32) -> bool {
        u64::from(part) * 100 >= u64::from(threshold_percent) * u64::from(self.buffered_calls)
    }

    fn rate_basis_points(self, part: u32, minimum_calls: u32) -> Option<u32> {
        (self.buffered_calls >= minimum_calls && self.buffered_calls > 0)
            .then(|| (u64::from(part) * 10_000 / u64::from(self.buffered_calls)) as u32)
    }

    /// Failure rate in basis points; None until `minimum_calls` are buffered.
    pub fn failure_rate_bp(self, minimum_calls: u32) -> Option<u32> {
        self.rate_basis_points(self.failed_calls, minimum_calls)
    }

    /// Slow-call rate in basis points; None until `minimum_calls` are buffered.
    pub fn slow_call_rate_bp(self, minimum_calls: u32) -> Option<u32> {
        self.rate_basis_points(self.slow_calls, minimum_calls)
    }
}
