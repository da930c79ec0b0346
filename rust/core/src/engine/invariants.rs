//! The invariants, checkable at any time (and after every operation in test
//! builds):
//!
//! - every position's reserved / allocated / picked bucket equals the sum of
//!   the lines in that state at that position (so none is negative);
//! - available is negative only while an OVERCOMMITTED exception is open, and
//!   an open exception means available is negative;
//! - every line has units, every reservation has history;
//! - the indexes agree with what they index (positions, reservations, the
//!   channel-cap units, the pick capacity promised per location and day, and
//!   the holds and units each tenant holds).

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
        let mut channel_units = self.channel_units.clone();
        channel_units.retain(|_, units| *units > 0);
        let kept = std::mem::take(&mut channel_units);
        let mut engine_units = hashbrown::HashMap::new();
        for reservation in &self.reservations {
            for line in &reservation.lines {
                if line.state.bucket().is_some() {
                    *engine_units
                        .entry((line.position, reservation.channel))
                        .or_insert(0u64) += line.quantity;
                }
            }
        }
        if kept != engine_units {
            return Err("the channel-cap index disagrees with the reservation lines".to_owned());
        }
        let mut ship_capacity = self.ship_capacity.clone();
        ship_capacity.retain(|_, units| *units > 0);
        if ship_capacity != self.ship_capacity_from_lines() {
            return Err("the pick-capacity index disagrees with the promised lines".to_owned());
        }
        if self.tenant_holds != self.tenant_holds_from_lines() {
            return Err("the tenant-cap index disagrees with the held lines".to_owned());
        }
        if !self.symbols.is_valid(self.rule_version) {
            return Err("rule version names no symbol".to_owned());
        }
        self.idempotency.check()
    }
}
