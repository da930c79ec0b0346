//! Proposals for a shared store, in the shapes the Python side hands to Redis.
//!
//! Objects are named as the store keys them: `p:SKU\x1fLOCATION` for a
//! position, `r:ID` for a reservation, `c:LOCATION` for a location's pick
//! capacity, `s:SKU` for the set of a SKU's positions, `t:TENANT` for a
//! tenant's holds (the tenant caps) and `rules` for the active rule-set
//! version.

use holdfast_core::engine::{Object, Plan};
use holdfast_core::event::Event;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

pub fn object_name(object: &Object) -> String {
    match object {
        Object::Position { sku, location } => format!("p:{sku}\u{1f}{location}"),
        Object::Reservation(id) => format!("r:{id}"),
        Object::Capacity { location } => format!("c:{location}"),
        Object::Sku { sku } => format!("s:{sku}"),
        Object::Rules => "rules".to_owned(),
        Object::Tenant { tenant } => format!("t:{tenant}"),
    }
}

fn names(objects: &[Object]) -> Vec<String> {
    objects.iter().map(object_name).collect()
}

/// `(encoded event, plan)`: the plan as a dict (see `_core.pyi`).
pub fn proposal<'py>(
    py: Python<'py>,
    event: &Event,
    plan: &Plan,
) -> PyResult<(Bound<'py, PyBytes>, Bound<'py, PyDict>)> {
    let body = PyBytes::new(py, &event.encode_into(Vec::new()));
    let dict = PyDict::new(py);
    dict.set_item("unchanged", names(&plan.unchanged))?;
    let headroom: Vec<(String, u64, u64)> = plan
        .headroom
        .iter()
        .map(|(o, h)| (object_name(o), h.floor, h.safety_stock))
        .collect();
    dict.set_item("headroom", headroom)?;
    let positions: Vec<(String, i64, i64, i64, i64, Option<u64>)> = plan
        .positions
        .iter()
        .map(|(o, d)| {
            let name = object_name(o);
            (
                name,
                d.on_hand,
                d.reserved,
                d.allocated,
                d.picked,
                d.safety_stock,
            )
        })
        .collect();
    dict.set_item("positions", positions)?;
    dict.set_item("touched", names(&plan.touched))?;
    let reservation = plan
        .reservation
        .as_ref()
        .map(|(id, tenant, state)| (id.to_string(), tenant.to_string(), state.name()));
    dict.set_item("reservation", reservation)?;
    let expiry = plan.expiry.map(|(id, due)| (id.to_string(), due));
    dict.set_item("expiry", expiry)?;
    dict.set_item("rule_version", event.rule_version.as_ref())?;
    dict.set_item("rule_version_set", plan.rule_version_set.as_deref())?;
    dict.set_item("kind", event.kind())?;
    Ok((body, dict))
}
