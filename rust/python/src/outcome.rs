//! Decisions as Python objects: the one place a core outcome or rejection
//! becomes something Python can read. Facts are converted only when asked for.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use holdfast_core::{Outcome as CoreOutcome, Rejection as CoreRejection, Target};

/// A business rejection: its reason code, a readable message and its facts.
#[pyclass(frozen, module = "holdfast._core")]
pub struct Rejection {
    inner: CoreRejection,
}

#[pymethods]
impl Rejection {
    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason().name()
    }

    #[getter]
    fn message(&self) -> String {
        self.inner.to_string()
    }

    /// The facts behind the rejection (sku, location, requested, available,
    /// from, field, ...), as a dict.
    #[getter]
    fn facts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(&self.inner).expect("rejections always encode");
        // Externally tagged: {"Variant": {facts}}; callers want the facts.
        let facts = match value {
            serde_json::Value::Object(mut outer) if outer.len() == 1 => {
                let (_, inner) = outer.iter_mut().next().expect("one entry");
                inner.take()
            }
            other => other,
        };
        json_to_python(py, &facts)
    }

    fn __repr__(&self) -> String {
        format!("Rejection({}: {})", self.reason(), self.inner)
    }
}

fn json_to_python<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any(),
            (None, None) => n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any(),
        },
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The answer to one request.
#[pyclass(frozen, module = "holdfast._core")]
pub struct Outcome {
    pub(crate) inner: CoreOutcome,
}

impl From<CoreOutcome> for Outcome {
    fn from(inner: CoreOutcome) -> Self {
        Outcome { inner }
    }
}

#[pymethods]
impl Outcome {
    #[getter]
    fn accepted(&self) -> bool {
        self.inner.is_accepted()
    }

    #[getter]
    fn reason(&self) -> &'static str {
        self.inner.reason.name()
    }

    #[getter]
    fn replayed(&self) -> bool {
        self.inner.replayed
    }

    /// Who owns this kind of decision: "holdfast" (commitments) or "warehouse" (physical facts).
    #[getter]
    fn owner(&self) -> &'static str {
        self.inner.owner.name()
    }

    /// Decision time, unix milliseconds.
    #[getter]
    fn decided_at(&self) -> i64 {
        self.inner.decided_at
    }

    #[getter]
    fn rule_version(&self) -> &str {
        &self.inner.rule_version
    }

    #[getter]
    fn reservation_id(&self) -> Option<String> {
        match &self.inner.result {
            Ok(Target::Reservation(id)) => Some(id.to_string()),
            Ok(Target::Position { .. }) | Err(_) => None,
        }
    }

    /// (sku, location) of a stock decision.
    #[getter]
    fn position(&self) -> Option<(String, String)> {
        match &self.inner.result {
            Ok(Target::Position { sku, location }) => Some((sku.to_string(), location.to_string())),
            Ok(Target::Reservation(_)) | Err(_) => None,
        }
    }

    #[getter]
    fn rejection(&self) -> Option<Rejection> {
        self.inner.result.as_ref().err().map(|inner| Rejection {
            inner: inner.clone(),
        })
    }

    fn __repr__(&self) -> String {
        match &self.inner.result {
            Ok(_) => format!(
                "Outcome({}, replayed={}, reservation_id={:?})",
                self.reason(),
                self.inner.replayed,
                self.reservation_id()
            ),
            Err(rejection) => format!(
                "Outcome({}, replayed={}: {rejection})",
                self.reason(),
                self.inner.replayed
            ),
        }
    }
}
