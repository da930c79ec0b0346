//! Python values to core requests, core views to Python dicts.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use holdfast_core::{Command, LineRequest, Meta, PositionView, Request, ReservationView};

/// A request line as Python passes it: (sku, location, quantity).
pub type PyLine = (String, String, u64);

pub fn lines(lines: Vec<PyLine>) -> Vec<LineRequest> {
    lines
        .into_iter()
        .map(|(sku, location, quantity)| LineRequest {
            sku,
            location,
            quantity,
        })
        .collect()
}

pub fn meta(tenant: String, idempotency_key: String, actor: String, now: i64) -> Meta {
    Meta {
        tenant,
        idempotency_key,
        actor,
        now,
    }
}

/// One batch item: `(operation, tenant, idempotency_key, actor, now, *arguments)`,
/// with the arguments of the per-call method of the same name, all given.
pub fn batch_request(item: &Bound<'_, PyAny>) -> PyResult<Request> {
    let tuple = item
        .cast::<PyTuple>()
        .map_err(|_| PyTypeError::new_err("each batch item must be a tuple"))?;
    let head: (String, String, String, String, i64) = tuple.get_slice(0, 5).extract()?;
    let (operation, tenant, key, actor, now) = head;
    let args = tuple.get_slice(5, tuple.len());
    let command = match operation.as_str() {
        "reserve" => {
            let (order_ref, channel, items, hold_ms, allow_partial): (
                String,
                String,
                Vec<PyLine>,
                i64,
                bool,
            ) = args.extract()?;
            Command::Reserve {
                order_ref,
                channel,
                lines: lines(items),
                hold_ms,
                allow_partial,
            }
        }
        "allocate" => {
            let (reservation_id, items): (String, Vec<PyLine>) = args.extract()?;
            Command::Allocate {
                reservation_id,
                lines: lines(items),
            }
        }
        "release" => {
            let (reservation_id, note): (String, String) = args.extract()?;
            Command::Release {
                reservation_id,
                note,
            }
        }
        "renew_hold" => {
            let (reservation_id, hold_ms): (String, i64) = args.extract()?;
            Command::RenewHold {
                reservation_id,
                hold_ms,
            }
        }
        "confirm_pick" => {
            let (reservation_id, items, as_of): (String, Vec<PyLine>, i64) = args.extract()?;
            Command::ConfirmPick {
                reservation_id,
                lines: lines(items),
                as_of,
            }
        }
        "unpick" => {
            let (reservation_id, items): (String, Vec<PyLine>) = args.extract()?;
            Command::Unpick {
                reservation_id,
                lines: lines(items),
            }
        }
        "confirm_shipment" => {
            let (reservation_id, items, as_of): (String, Vec<PyLine>, i64) = args.extract()?;
            Command::ConfirmShipment {
                reservation_id,
                lines: lines(items),
                as_of,
            }
        }
        "record_return" => {
            let (reservation_id, items, restock, as_of): (String, Vec<PyLine>, bool, i64) =
                args.extract()?;
            Command::RecordReturn {
                reservation_id,
                lines: lines(items),
                restock,
                as_of,
            }
        }
        "set_stock" => {
            let (sku, location, on_hand, source_sequence, as_of): (String, String, u64, u64, i64) =
                args.extract()?;
            Command::SetStock {
                sku,
                location,
                on_hand,
                source_sequence,
                as_of,
            }
        }
        "adjust_stock" => {
            let (sku, location, delta, adjustment_reason): (String, String, i64, String) =
                args.extract()?;
            Command::AdjustStock {
                sku,
                location,
                delta,
                adjustment_reason,
            }
        }
        "set_safety_stock" => {
            let (sku, location, quantity): (String, String, u64) = args.extract()?;
            Command::SetSafetyStock {
                sku,
                location,
                quantity,
            }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown batch operation {other:?}"
            )))
        }
    };
    Ok(Request {
        meta: meta(tenant, key, actor, now),
        command,
    })
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
    let lines: Vec<Bound<'py, PyDict>> = view
        .lines
        .iter()
        .map(|line| {
            let item = PyDict::new(py);
            item.set_item("sku", &*line.sku)?;
            item.set_item("location", &*line.location)?;
            item.set_item("quantity", line.quantity)?;
            item.set_item("state", line.state.name())?;
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
