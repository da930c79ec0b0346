//! Hard limits on every input. A request past one is rejected with
//! `INVALID_ARGUMENT` naming the field; nothing is decided or stored.

use crate::error::Rejection;

/// Longest name (SKU, location, tenant, channel, actor, key, order ref, note).
pub const MAX_NAME_BYTES: usize = 128;
/// Longest free-text note (release note, adjustment reason).
pub const MAX_NOTE_BYTES: usize = 1024;
/// Most lines in one request.
pub const MAX_LINES: usize = 100;
/// Most units on one line; far above any order, far below overflow.
pub const MAX_LINE_QUANTITY: u64 = 1_000_000_000;
/// Largest on-hand count a warehouse can report for one position.
pub const MAX_ON_HAND: u64 = 1_000_000_000_000;
/// Most requests in one batch.
pub const MAX_BATCH: usize = 10_000;
/// Most SKUs (or locations) one availability read may name.
pub const MAX_FILTER_NAMES: usize = 1_000;

pub fn name(field: &str, value: &str) -> Result<(), Rejection> {
    name_problem(value, false).map_or(Ok(()), |reason| Err(Rejection::invalid(field, reason)))
}

pub fn optional_name(field: &str, value: &str) -> Result<(), Rejection> {
    name_problem(value, true).map_or(Ok(()), |reason| Err(Rejection::invalid(field, reason)))
}

/// What is wrong with a name, if anything. Separate from the field name so a
/// caller validating many lines builds the field's name only on failure.
pub fn name_problem(value: &str, may_be_empty: bool) -> Option<String> {
    if value.is_empty() && !may_be_empty {
        return Some("must not be empty".to_owned());
    }
    if value.len() > MAX_NAME_BYTES {
        return Some(format!("longer than {MAX_NAME_BYTES} bytes"));
    }
    // ASCII fast path; only names with other characters pay for decoding.
    let control = if value.is_ascii() {
        value.bytes().any(|b| b.is_ascii_control())
    } else {
        value.chars().any(char::is_control)
    };
    if control {
        return Some("contains control characters".to_owned());
    }
    None
}

pub fn note(field: &str, value: &str) -> Result<(), Rejection> {
    if value.len() > MAX_NOTE_BYTES {
        return Err(Rejection::invalid(
            field,
            format!("longer than {MAX_NOTE_BYTES} bytes"),
        ));
    }
    Ok(())
}

pub fn quantity(field: &str, value: u64) -> Result<(), Rejection> {
    quantity_problem(value).map_or(Ok(()), |reason| Err(Rejection::invalid(field, reason)))
}

pub fn quantity_problem(value: u64) -> Option<String> {
    if value == 0 {
        return Some("must be at least 1".to_owned());
    }
    if value > MAX_LINE_QUANTITY {
        return Some(format!("must be at most {MAX_LINE_QUANTITY}"));
    }
    None
}

pub fn line_count(field: &str, count: usize, required: bool) -> Result<(), Rejection> {
    if required && count == 0 {
        return Err(Rejection::invalid(field, "must have at least one line"));
    }
    if count > MAX_LINES {
        return Err(Rejection::invalid(
            field,
            format!("must have at most {MAX_LINES} lines"),
        ));
    }
    Ok(())
}

pub fn on_hand(field: &str, value: u64) -> Result<(), Rejection> {
    if value > MAX_ON_HAND {
        return Err(Rejection::invalid(
            field,
            format!("must be at most {MAX_ON_HAND}"),
        ));
    }
    Ok(())
}

pub fn delta(field: &str, value: i64) -> Result<(), Rejection> {
    if value == 0 {
        return Err(Rejection::invalid(field, "must not be zero"));
    }
    if value.unsigned_abs() > MAX_ON_HAND {
        return Err(Rejection::invalid(
            field,
            format!("must be within ±{MAX_ON_HAND}"),
        ));
    }
    Ok(())
}

pub fn timestamp(field: &str, value: i64) -> Result<(), Rejection> {
    // Unix milliseconds between 1970 and the year 9999.
    if !(0..=253_402_300_799_999).contains(&value) {
        return Err(Rejection::invalid(
            field,
            "must be unix milliseconds between 1970 and 9999",
        ));
    }
    Ok(())
}
