//! Hard limits on every request, checked before anything is looked up.

use crate::command::{Command, LineRequest, Request};
use crate::error::Rejection;
use crate::ids;
use crate::limits;
use crate::rules::MAX_HOLD_SECONDS;
use crate::ship_date::ShipDate;

pub(super) fn request(request: &Request) -> Result<(), Rejection> {
    let meta = &request.meta;
    limits::timestamp("now", meta.now)?;
    limits::name("tenant", &meta.tenant)?;
    limits::name("idempotency_key", &meta.idempotency_key)?;
    limits::name("actor", &meta.actor)?;
    match &request.command {
        Command::Reserve {
            order_ref,
            channel,
            lines,
            hold_seconds,
            allow_partial: _,
            destination_region,
        } => {
            limits::optional_name("order_ref", order_ref)?;
            limits::optional_name("channel", channel)?;
            limits::optional_name("destination_region", destination_region)?;
            hold(*hold_seconds)?;
            line_list(lines, true)
        }
        Command::Allocate {
            reservation_id,
            lines,
            ship_by,
        } => {
            reservation(reservation_id)?;
            if !ship_by.is_empty() && ShipDate::parse(ship_by).is_none() {
                return Err(Rejection::invalid(
                    "ship_by",
                    "must be a date \"YYYY-MM-DD\" (or empty)",
                ));
            }
            line_list(lines, false)
        }
        Command::Unpick {
            reservation_id,
            lines,
        } => {
            reservation(reservation_id)?;
            line_list(lines, false)
        }
        Command::Release {
            reservation_id,
            note,
        } => {
            reservation(reservation_id)?;
            limits::note("note", note)
        }
        Command::RenewHold {
            reservation_id,
            hold_seconds,
        } => {
            reservation(reservation_id)?;
            hold(*hold_seconds)
        }
        Command::ConfirmPick {
            reservation_id,
            lines,
            as_of,
        }
        | Command::ConfirmShipment {
            reservation_id,
            lines,
            as_of,
        }
        | Command::RecordReturn {
            reservation_id,
            lines,
            as_of,
            restock: _,
        } => {
            reservation(reservation_id)?;
            optional_timestamp(*as_of)?;
            line_list(lines, false)
        }
        Command::SetStock {
            sku,
            location,
            on_hand,
            source_sequence: _,
            as_of,
        } => {
            limits::name("sku", sku)?;
            limits::name("location", location)?;
            limits::on_hand("on_hand", *on_hand)?;
            optional_timestamp(*as_of)
        }
        Command::AdjustStock {
            sku,
            location,
            delta,
            adjustment_reason,
        } => {
            limits::name("sku", sku)?;
            limits::name("location", location)?;
            limits::delta("delta", *delta)?;
            limits::name("adjustment_reason", adjustment_reason)
        }
        Command::SetSafetyStock {
            sku,
            location,
            quantity,
        } => {
            limits::name("sku", sku)?;
            limits::name("location", location)?;
            limits::on_hand("quantity", *quantity)
        }
    }
}

fn reservation(id: &str) -> Result<(), Rejection> {
    if id.is_empty() {
        return Err(Rejection::invalid("reservation_id", "must not be empty"));
    }
    ids::parse(id)
        .map(|_| ())
        .ok_or_else(|| Rejection::invalid("reservation_id", "is not a UUID"))
}

fn optional_timestamp(as_of: Option<i64>) -> Result<(), Rejection> {
    as_of.map_or(Ok(()), |as_of| limits::timestamp("as_of", as_of))
}

/// The absolute bounds; the active rule set's limit per channel is checked
/// when deciding (it depends on the reservation's channel).
fn hold(hold_seconds: i64) -> Result<(), Rejection> {
    if hold_seconds < 0 {
        return Err(Rejection::invalid("hold_seconds", "must not be negative"));
    }
    if hold_seconds > MAX_HOLD_SECONDS {
        return Err(Rejection::invalid(
            "hold_seconds",
            format!("must be at most {MAX_HOLD_SECONDS} seconds"),
        ));
    }
    Ok(())
}

/// An empty location is allowed: on a reserve it lets the engine choose,
/// elsewhere it matches the line wherever it is held.
fn line_list(lines: &[LineRequest], required: bool) -> Result<(), Rejection> {
    limits::line_count("lines", lines.len(), required)?;
    for (i, line) in lines.iter().enumerate() {
        let problems = [
            ("sku", limits::name_problem(&line.sku, false)),
            ("location", limits::name_problem(&line.location, true)),
            ("quantity", limits::quantity_problem(line.quantity)),
        ];
        for (field, problem) in problems {
            if let Some(reason) = problem {
                return Err(Rejection::invalid(&format!("lines[{i}].{field}"), reason));
            }
        }
    }
    Ok(())
}
