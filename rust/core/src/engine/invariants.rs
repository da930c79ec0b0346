//! The invariants, checkable at any time (and after every operation in test
//! builds):
//!
//! - every position's reserved / allocated / picked bucket equals the sum of
//!   the lines in that state at that position (so none is negative);
//! - available is negative only while an OVERCOMMITTED exception is open, and
//!   an open exception means available is negative;
//! - every line has units, every reservation has history;
//! - the indexes agree with what they index.

use crate::state::Bucket;

use super::Engine;

impl Engine {
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut sums = vec![[0u128; 3]; self.positions.len()];
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
                let Some(sum) = sums.get_mut(line.position as usize) else {
                    return Err(format!("reservation {} names no position", reservation.id));
                };
                if let Some(bucket) = line.state.bucket() {
                    sum[bucket as usize] += u128::from(line.quantity);
                }
            }
        }
        for (index, position) in self.positions.iter().enumerate() {
            let name = || {
                format!(
                    "{}@{}",
                    self.symbols.name(position.sku),
                    self.symbols.name(position.location)
                )
            };
            for bucket in [Bucket::Reserved, Bucket::Allocated, Bucket::Picked] {
                let held = sums[index][bucket as usize];
                if u128::from(position.bucket(bucket)) != held {
                    return Err(format!(
                        "{}: {bucket:?} is {} but its lines hold {held}",
                        name(),
                        position.bucket(bucket)
                    ));
                }
            }
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
