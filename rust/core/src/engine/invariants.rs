//! The invariants, checkable at any time (and after every operation in test
//! builds):
//!
//! - every position's reserved / allocated / picked bucket equals the sum of
//!   the lines in that state at that position (so none is negative);
//! - available is negative only while an OVERCOMMITTED exception is open, and
//!   an open exception means available is negative;
//! - every line has units, every reservation has history;
//! - the indexes agree with what they index.

use super::Engine;

impl Engine {
    pub fn check_invariants(&self) -> Result<(), String> {
        for (slot, reservation) in self.reservations.iter().enumerate() {
            if self.slot_of(&reservation.id) != Some(slot as u32) {
                return Err(format!("reservation {} is not indexed", reservation.id));
            }
            if reservation.history.is_empty() {
                return Err(format!("reservation {} has no history", reservation.id));
            }
            for line in &reservation.lines {
                if line.quantity == 0 {
                    return Err(format!("reservation {} has an empty line", reservation.id));
                }
                if self.positions.get(line.position as usize).is_none() {
                    return Err(format!("reservation {} names no position", reservation.id));
                }
            }
        }
        if let Some(d) = self.audit().first() {
            return Err(format!(
                "{}@{}: {} is {} but its lines hold {}",
                d.sku, d.location, d.bucket, d.stored, d.from_lines
            ));
        }
        for (index, position) in self.positions.iter().enumerate() {
            let name = || {
                format!(
                    "{}@{}",
                    self.symbols.name(position.sku),
                    self.symbols.name(position.location)
                )
            };
            let negative = position.available() < 0;
            if negative != position.overcommitted_since.is_some() {
                return Err(format!(
                    "{}: available {} but overcommitted since {:?}",
                    name(),
                    position.available(),
                    position.overcommitted_since
                ));
            }
            if self.position_index.get(&(position.sku, position.location)) != Some(&(index as u32))
            {
                return Err(format!("{} is not indexed", name()));
            }
        }
        if !self.symbols.is_valid(self.rule_version) {
            return Err("rule version names no symbol".to_owned());
        }
        self.idempotency.check()
    }
}
