//! Python values to core requests, core views to Python dicts.

use pyo3::conversion::FromPyObjectOwned;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};

use holdfast_core::{Command, LineRequest, Meta, PositionView, Request, ReservationView};

/// Request lines as Python passes them: a sequence of (sku, location, quantity).
pub fn lines(value: &Bound<'_, PyAny>) -> PyResult<Vec<LineRequest>> {
    let mut lines = Vec::with_capacity(value.len().unwrap_or(0));
    for item in value.try_iter()? {
        let (sku, location, quantity): (String, String, u64) = item?.extract()?;
        lines.push(LineRequest {
            sku,
            location,
            quantity,
        });
    }
    Ok(lines)
}

pub fn optional_lines(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<LineRequest>> {
    value.map_or_else(|| Ok(Vec::new()), lines)
}

pub fn meta(tenant: String, idempotency_key: String, actor: String, now: i64) -> Meta {
    Meta {
        tenant,
        idempotency_key,
        actor,
        now,
        unverified: false,
    }
}

/// Positional access to one batch item, naming the item's field on error.
struct Item<'a, 'py> {
    tuple: &'a Bound<'py, PyTuple>,
}

impl<'py> Item<'_, 'py> {
    fn get<T: FromPyObjectOwned<'py>>(&self, index: usize, field: &str) -> PyResult<T> {
        let value = self
            .tuple
            .get_borrowed_item(index)
            .map_err(|_| PyTypeError::new_err(format!("missing {field}")))?;
        value.extract::<T>().map_err(|e| {
            let e: PyErr = e.into();
            PyTypeError::new_err(format!("{field}: {e}"))
        })
    }

    fn lines(&self, index: usize) -> PyResult<Vec<LineRequest>> {
        let value = self
            .tuple
            .get_borrowed_item(index)
            .map_err(|_| PyTypeError::new_err("missing lines"))?;
        lines(&value).map_err(|e| PyTypeError::new_err(format!("lines: {e}")))
    }

    fn arity(&self, operation: &str, arguments: usize) -> PyResult<()> {
        if self.tuple.len() != 5 + arguments {
            return Err(PyTypeError::new_err(format!(
                "{operation} takes (operation, tenant, idempotency_key, actor, now) and {arguments} arguments"
            )));
        }
        Ok(())
    }
}

/// One batch item: `(operation, tenant, idempotency_key, actor, now, *arguments)`,
/// with the arguments of the per-call method of the same name, all given.
pub fn batch_request(value: &Bound<'_, PyAny>) -> PyResult<Request> {
    let tuple = value
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("each batch item must be a tuple"))?;
    let item = Item { tuple };
    let operation = tuple
        .get_borrowed_item(0)
        .map_err(|_| PyTypeError::new_err("empty batch item"))?;
    let operation = operation
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err("operation must be a str"))?;
    let operation = operation.to_str()?;
    let mut meta = Meta {
        tenant: item.get(1, "tenant")?,
        idempotency_key: item.get(2, "idempotency_key")?,
        actor: item.get(3, "actor")?,
        now: item.get(4, "now")?,
        // Set below for a reserve that says so.
        unverified: false,
    };
    let (arguments, command) = match operation {
        // The destination region and then the unverified mark (the
        // service's verdict, see Meta::unverified), last, may be left out.
        "reserve" => (
            item.tuple.len().clamp(10, 12) - 5,
            Command::Reserve {
                order_ref: item.get(5, "order_ref")?,
                channel: item.get(6, "channel")?,
                lines: item.lines(7)?,
                hold_seconds: item.get(8, "hold_seconds")?,
                allow_partial: item.get(9, "allow_partial")?,
                destination_region: if item.tuple.len() >= 11 {
                    item.get(10, "destination_region")?
                } else {
                    String::new()
                },
            },
        ),
        // The ship-by date, last, may be left out.
        "allocate" => (
            if item.tuple.len() == 8 { 3 } else { 2 },
            Command::Allocate {
                reservation_id: item.get(5, "reservation_id")?,
                lines: item.lines(6)?,
                ship_by: if item.tuple.len() == 8 {
                    item.get(7, "ship_by")?
                } else {
                    String::new()
                },
            },
        ),
        "release" => (
            2,
            Command::Release {
                reservation_id: item.get(5, "reservation_id")?,
                note: item.get(6, "note")?,
            },
        ),
        "renew_hold" => (
            2,
            Command::RenewHold {
                reservation_id: item.get(5, "reservation_id")?,
                hold_seconds: item.get(6, "hold_seconds")?,
            },
        ),
        "confirm_pick" => (
            3,
            Command::ConfirmPick {
                reservation_id: item.get(5, "reservation_id")?,
                lines: item.lines(6)?,
                as_of: item.get(7, "as_of")?,
            },
        ),
        "unpick" => (
            2,
            Command::Unpick {
                reservation_id: item.get(5, "reservation_id")?,
                lines: item.lines(6)?,
            },
        ),
        "confirm_shipment" => (
            3,
            Command::ConfirmShipment {
                reservation_id: item.get(5, "reservation_id")?,
                lines: item.lines(6)?,
                as_of: item.get(7, "as_of")?,
            },
        ),
        "record_return" => (
            4,
            Command::RecordReturn {
                reservation_id: item.get(5, "reservation_id")?,
                lines: item.lines(6)?,
                restock: item.get(7, "restock")?,
                as_of: item.get(8, "as_of")?,
            },
        ),
        "set_stock" => (
            5,
            Command::SetStock {
                sku: item.get(5, "sku")?,
                location: item.get(6, "location")?,
                on_hand: item.get(7, "on_hand")?,
                source_sequence: item.get(8, "source_sequence")?,
                as_of: item.get(9, "as_of")?,
            },
        ),
        "adjust_stock" => (
            4,
            Command::AdjustStock {
                sku: item.get(5, "sku")?,
                location: item.get(6, "location")?,
                delta: item.get(7, "delta")?,
                adjustment_reason: item.get(8, "adjustment_reason")?,
            },
        ),
        "set_safety_stock" => (
            3,
            Command::SetSafetyStock {
                sku: item.get(5, "sku")?,
                location: item.get(6, "location")?,
                quantity: item.get(7, "quantity")?,
            },
        ),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown batch operation {other:?}"
            )))
        }
    };
    item.arity(operation, arguments)?;
    if matches!(command, Command::Reserve { .. }) && item.tuple.len() == 12 {
        meta.unverified = item.get(11, "unverified")?;
    }
    Ok(Request { meta, command })
}

pub fn reservation<'py>(py: Python<'py>, view: &ReservationView) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("reservation_id", view.id.to_string())?;
    dict.set_item("tenant", &*view.tenant)?;
    dict.set_item("order_ref", &view.order_ref)?;
    dict.set_item("channel", &*view.channel)?;
    dict.set_item("state", view.state.name())?;
    dict.set_item("created_at", view.created_at)?;
    dict.set_item("expires_at", view.expires_at)?;
    dict.set_item("rule_version", &*view.rule_version)?;
    dict.set_item("unverified", view.unverified)?;
    let lines: Vec<Bound<'py, PyDict>> = view
        .lines
        .iter()
        .map(|line| {
            let item = PyDict::new(py);
            item.set_item("sku", &*line.sku)?;
            item.set_item("location", &*line.location)?;
            item.set_item("quantity", line.quantity)?;
            item.set_item("state", line.state.name())?;
            item.set_item(
                "promised_ship_date",
                line.promised_ship_date.map(|date| date.to_string()),
            )?;
            Ok(item)
        })
        .collect::<PyResult<_>>()?;
    dict.set_item("lines", lines)?;
    let history: Vec<Bound<'py, PyDict>> = view
        .history
        .iter()
        .map(|entry| {
            let item = PyDict::new(py);
            item.set_item("at", entry.at)?;
            item.set_item("action", entry.action.name())?;
            item.set_item("from_state", entry.from.map(|state| state.name()))?;
            item.set_item("to_state", entry.to.name())?;
            item.set_item("reason", entry.reason.name())?;
            item.set_item("actor", &*entry.actor)?;
            item.set_item("rule_version", &*entry.rule_version)?;
            item.set_item("idempotency_key", entry.idempotency_key.as_deref())?;
            Ok(item)
        })
        .collect::<PyResult<_>>()?;
    dict.set_item("history", history)?;
    Ok(dict)
}

pub fn position<'py>(py: Python<'py>, view: &PositionView) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("sku", &*view.sku)?;
    dict.set_item("location", &*view.location)?;
    dict.set_item("on_hand", view.on_hand)?;
    dict.set_item("reserved", view.reserved)?;
    dict.set_item("allocated", view.allocated)?;
    dict.set_item("picked", view.picked)?;
    dict.set_item("safety_stock", view.safety_stock)?;
    dict.set_item("available", view.available)?;
    dict.set_item("source_sequence", view.source_sequence)?;
    dict.set_item("as_of", view.as_of)?;
    dict.set_item("received_at", view.received_at)?;
    dict.set_item("overcommitted_since", view.overcommitted_since)?;
    Ok(dict)
}
