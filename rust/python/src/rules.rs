//! `holdfast._core.RuleSet`: a parsed, validated rule set (immutable), and
//! `RuleSetInvalid`, raised with every error and its line.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use holdfast_core::rules::{self, RuleSet as CoreRuleSet};

pyo3::create_exception!(
    _core,
    RuleSetInvalid,
    pyo3::exceptions::PyValueError,
    "A rule set that does not parse or validate; args[1] holds (line, field, message) tuples."
);

#[pyclass(frozen, module = "holdfast._core")]
pub struct RuleSet {
    pub(crate) inner: CoreRuleSet,
}

#[pymethods]
impl RuleSet {
    /// Parse and validate TOML text; raises RuleSetInvalid with every error.
    #[staticmethod]
    fn parse(text: &str) -> PyResult<Self> {
        rules::parse(text)
            .map(|inner| RuleSet { inner })
            .map_err(|errors| {
                let message = errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                let found: Vec<(Option<usize>, String, String)> = errors
                    .into_iter()
                    .map(|e| (e.line, e.field, e.message))
                    .collect();
                RuleSetInvalid::new_err((message, found))
            })
    }

    #[getter]
    fn version(&self) -> &str {
        &self.inner.version
    }

    #[getter]
    fn author(&self) -> &str {
        &self.inner.author
    }

    #[getter]
    fn description(&self) -> &str {
        &self.inner.description
    }

    /// The settings that decide, for display: strategy, split, hold times,
    /// counts of safety-stock rules and caps, the feasibility policy.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        summary(py, &self.inner)
    }

    fn __repr__(&self) -> String {
        format!("RuleSet({:?})", self.inner.version)
    }
}

pub(crate) fn summary<'py>(py: Python<'py>, r: &CoreRuleSet) -> PyResult<Bound<'py, PyDict>> {
    {
        let view = PyDict::new(py);
        view.set_item("version", &r.version)?;
        view.set_item("strategy", r.allocation.strategy.name())?;
        view.set_item("allow_split", r.allocation.allow_split)?;
        view.set_item("default_hold_seconds", r.holds.default_ms / 1000)?;
        view.set_item("max_hold_seconds", r.holds.max_ms / 1000)?;
        view.set_item("channels_with_hold_times", r.channel_holds.len())?;
        view.set_item("safety_stock_rules", r.safety_stock.len())?;
        view.set_item("channel_caps", r.channel_caps.len())?;
        view.set_item(
            "feasibility_when_unavailable",
            match r.feasibility_when_unavailable {
                holdfast_core::feasibility::WhenUnavailable::Refuse => "refuse",
                holdfast_core::feasibility::WhenUnavailable::AcceptUnverified => {
                    "accept_unverified"
                }
            },
        )?;
        Ok(view)
    }
}
