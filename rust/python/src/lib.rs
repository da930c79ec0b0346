//! The Python face of holdfast-core: `holdfast._core`.
//!
//! Conversion and GIL release only. Every decision is made by the core; this
//! crate turns Python arguments into core requests and core answers into
//! Python objects, each in one place.

mod breaker;
mod convert;
mod engine;
mod outcome;
mod rules;
mod shared;
mod wire;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use holdfast_core::{LineState, CATALOGUE};

// Small short-lived allocations dominate the per-request cost; mimalloc
// serves them faster than the system allocator (measured in benchmarks/).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pyo3::create_exception!(
    _core,
    InvariantViolation,
    pyo3::exceptions::PyException,
    "The engine's state broke one of its invariants (a bug, never a business outcome)."
);

/// The reason catalogue: (name, number, grpc status name, grpc status number,
/// retryable, meaning) for every code, in number order.
#[pyfunction]
fn reason_catalogue(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyTuple>>> {
    CATALOGUE
        .iter()
        .map(|entry| {
            (
                entry.name,
                entry.code as u16,
                entry.status.name(),
                entry.status as u8,
                entry.retryable,
                entry.meaning,
            )
                .into_pyobject(py)
        })
        .collect()
}

/// Whether `text` is a reservation id the core can read (any UUID spelling
/// the core accepts); for telling a malformed id from an unknown one.
#[pyfunction]
fn is_reservation_id(text: &str) -> bool {
    holdfast_core::ids::parse(text).is_some()
}

/// Every line / reservation state name, in lifecycle order.
#[pyfunction]
fn line_states() -> Vec<&'static str> {
    LineState::ALL.iter().map(|state| state.name()).collect()
}

/// The core's verdict on a feasibility answer ("feasible", "infeasible",
/// "unavailable") under a policy ("refuse", "accept_unverified"):
/// ("VERIFIED" | "UNVERIFIED" | "REFUSED", the refusal's reason or None).
#[pyfunction]
fn feasibility_verdict(
    answer: &str,
    when_unavailable: &str,
) -> PyResult<(&'static str, Option<&'static str>)> {
    use holdfast_core::feasibility::{verdict, Answer, Verdict, WhenUnavailable};
    let answer = Answer::from_name(answer)
        .ok_or_else(|| PyValueError::new_err(format!("invalid answer: {answer:?}")))?;
    let policy = WhenUnavailable::from_name(when_unavailable).ok_or_else(|| {
        PyValueError::new_err(format!("invalid when_unavailable: {when_unavailable:?}"))
    })?;
    let decided = verdict(answer, policy);
    let reason = match decided {
        Verdict::Refused(reason) => Some(reason.name()),
        Verdict::Verified | Verdict::Unverified => None,
    };
    Ok((decided.name(), reason))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_class::<breaker::CircuitBreaker>()?;
    m.add_class::<breaker::BreakerPermit>()?;
    m.add_class::<breaker::BreakerRefusal>()?;
    m.add_class::<outcome::Outcome>()?;
    m.add_class::<outcome::Rejection>()?;
    m.add_class::<rules::RuleSet>()?;
    m.add("RuleSetInvalid", m.py().get_type::<rules::RuleSetInvalid>())?;
    m.add(
        "InvariantViolation",
        m.py().get_type::<InvariantViolation>(),
    )?;
    m.add_function(wrap_pyfunction!(reason_catalogue, m)?)?;
    m.add_function(wrap_pyfunction!(line_states, m)?)?;
    m.add_function(wrap_pyfunction!(is_reservation_id, m)?)?;
    m.add_function(wrap_pyfunction!(feasibility_verdict, m)?)?;
    m.add("MAX_LINES", holdfast_core::limits::MAX_LINES)?;
    m.add(
        "MAX_LINE_QUANTITY",
        holdfast_core::limits::MAX_LINE_QUANTITY,
    )?;
    m.add("MAX_NAME_BYTES", holdfast_core::limits::MAX_NAME_BYTES)?;
    m.add("MAX_BATCH", holdfast_core::limits::MAX_BATCH)?;
    m.add("MAX_FILTER_NAMES", holdfast_core::limits::MAX_FILTER_NAMES)?;
    m.add("SYSTEM_ACTOR", holdfast_core::SYSTEM_ACTOR)?;
    m.add("FEASIBILITY", holdfast_core::feasibility::DEPENDENCY)?;
    Ok(())
}
