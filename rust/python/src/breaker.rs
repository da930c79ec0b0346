//! `holdfast._core.CircuitBreaker`: the core's breaker state machine behind a
//! Python class. Conversion only; every decision is the core's.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use holdfast_core::breaker::{
    BreakerConfig, CircuitBreaker as CoreBreaker, Permit, Refusal, Transition,
};

/// Leave to call the dependency once.
#[pyclass(frozen, module = "holdfast._core")]
pub struct BreakerPermit {
    inner: Permit,
}

#[pymethods]
impl BreakerPermit {
    #[getter]
    fn permitted(&self) -> bool {
        true
    }

    /// The state that let the call through: CLOSED, HALF_OPEN or DISABLED.
    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state.name()
    }

    fn __repr__(&self) -> String {
        format!("BreakerPermit({})", self.inner.state)
    }
}

/// The breaker said no: do not call the dependency; answer with `reason`.
#[pyclass(frozen, module = "holdfast._core")]
pub struct BreakerRefusal {
    inner: Refusal,
}

#[pymethods]
impl BreakerRefusal {
    #[getter]
    fn permitted(&self) -> bool {
        false
    }

    #[getter]
    fn breaker(&self) -> &str {
        &self.inner.breaker
    }

    #[getter]
    fn state(&self) -> &'static str {
        self.inner.state.name()
    }

    #[getter]
    fn retry_after_ms(&self) -> u64 {
        self.inner.retry_after_ms
    }

    /// The catalogue's reason for a refusal (DEPENDENCY_UNAVAILABLE).
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason().name()
    }

    #[getter]
    fn message(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("BreakerRefusal({})", self.inner)
    }
}

/// A Python int that must fit the core's unsigned setting, else a ValueError
/// naming the field (rather than PyO3's anonymous OverflowError).
fn unsigned<T: TryFrom<i64>>(field: &str, value: i64) -> PyResult<T> {
    T::try_from(value).map_err(|_| PyValueError::new_err(format!("invalid {field}: out of range")))
}

fn transition<'py>(py: Python<'py>, transition: &Transition) -> PyResult<Bound<'py, PyDict>> {
    let view = PyDict::new(py);
    view.set_item("from_state", transition.from.name())?;
    view.set_item("to_state", transition.to.name())?;
    view.set_item("at", transition.at_ms)?;
    view.set_item("cause", transition.cause.name())?;
    Ok(view)
}

#[pyclass(module = "holdfast._core")]
pub struct CircuitBreaker {
    inner: CoreBreaker,
}

#[pymethods]
impl CircuitBreaker {
    #[new]
    #[pyo3(signature = (
        name,
        *,
        failure_rate_threshold=50,
        slow_call_rate_threshold=100,
        slow_call_duration_ms=60_000,
        sliding_window_size=100,
        minimum_number_of_calls=100,
        wait_in_open_ms=60_000,
        permitted_calls_in_half_open=10,
        retry_hint_ms=1_000,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        failure_rate_threshold: i64,
        slow_call_rate_threshold: i64,
        slow_call_duration_ms: i64,
        sliding_window_size: i64,
        minimum_number_of_calls: i64,
        wait_in_open_ms: i64,
        permitted_calls_in_half_open: i64,
        retry_hint_ms: i64,
    ) -> PyResult<Self> {
        let config = BreakerConfig {
            failure_rate_threshold: unsigned("failure_rate_threshold", failure_rate_threshold)?,
            slow_call_rate_threshold: unsigned(
                "slow_call_rate_threshold",
                slow_call_rate_threshold,
            )?,
            slow_call_duration_ms: unsigned("slow_call_duration_ms", slow_call_duration_ms)?,
            sliding_window_size: unsigned("sliding_window_size", sliding_window_size)?,
            minimum_number_of_calls: unsigned("minimum_number_of_calls", minimum_number_of_calls)?,
            wait_in_open_ms: unsigned("wait_in_open_ms", wait_in_open_ms)?,
            permitted_calls_in_half_open: unsigned(
                "permitted_calls_in_half_open",
                permitted_calls_in_half_open,
            )?,
            retry_hint_ms: unsigned("retry_hint_ms", retry_hint_ms)?,
        };
        CoreBreaker::new(name, config)
            .map(|inner| CircuitBreaker { inner })
            .map_err(|rejection| PyValueError::new_err(rejection.to_string()))
    }

    #[getter]
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn state(&self) -> &'static str {
        self.inner.state().name()
    }

    /// A BreakerPermit, or a BreakerRefusal saying for how long to stay away.
    fn try_acquire<'py>(&mut self, py: Python<'py>, now_ms: i64) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.inner.try_acquire(now_ms) {
            Ok(inner) => Bound::new(py, BreakerPermit { inner })?.into_any(),
            Err(inner) => Bound::new(py, BreakerRefusal { inner })?.into_any(),
        })
    }

    fn on_success(&mut self, now_ms: i64, duration_ms: i64) -> PyResult<()> {
        let duration_ms = unsigned("duration_ms", duration_ms)?;
        self.inner.on_success(now_ms, duration_ms);
        Ok(())
    }

    fn on_failure(&mut self, now_ms: i64, duration_ms: i64) -> PyResult<()> {
        let duration_ms = unsigned("duration_ms", duration_ms)?;
        self.inner.on_failure(now_ms, duration_ms);
        Ok(())
    }

    /// OPEN to HALF_OPEN once the wait has passed, without taking a probe;
    /// the transition (as drain_transitions gives it), or None.
    fn poll<'py>(&mut self, py: Python<'py>, now_ms: i64) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.inner
            .poll(now_ms)
            .map(|t| transition(py, &t))
            .transpose()
    }

    /// Give back a permit whose call never reached the dependency.
    fn release_permit(&mut self) {
        self.inner.release_permit();
    }

    /// Whether the state changed (False if already FORCED_OPEN).
    fn force_open(&mut self, now_ms: i64) -> bool {
        self.inner.force_open(now_ms).is_some()
    }

    /// Whether the state changed (False if already DISABLED).
    fn disable(&mut self, now_ms: i64) -> bool {
        self.inner.disable(now_ms).is_some()
    }

    /// Back to CLOSED with an empty window, from any state.
    fn reset(&mut self, now_ms: i64) {
        self.inner.reset(now_ms);
    }

    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let metrics = self.inner.metrics();
        let view = PyDict::new(py);
        view.set_item("state", metrics.state.name())?;
        view.set_item("buffered_calls", metrics.window.buffered_calls)?;
        view.set_item("failed_calls", metrics.window.failed_calls)?;
        view.set_item("slow_calls", metrics.window.slow_calls)?;
        view.set_item("failure_rate_bp", metrics.failure_rate_bp)?;
        view.set_item("slow_call_rate_bp", metrics.slow_call_rate_bp)?;
        view.set_item("not_permitted_calls", metrics.not_permitted_calls)?;
        Ok(view)
    }

    /// Transitions since the last drain, oldest first.
    fn drain_transitions<'py>(&mut self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.inner
            .drain_transitions()
            .iter()
            .map(|t| transition(py, t))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "CircuitBreaker({:?}, {})",
            self.inner.name(),
            self.inner.state()
        )
    }
}
