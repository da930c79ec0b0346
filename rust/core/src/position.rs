//! A stock position: the buckets of one SKU at one location.
//!
//! ```text
//! on_hand      physical units (warehouse-owned)
//! reserved     soft holds with a time limit
//! allocated    firm commitments, not yet picked
//! picked       picked, not yet shipped (still in the building)
//! safety_stock never sold
//! available  = on_hand - reserved - allocated - picked - safety_stock
//! ```
//!
//! Buckets are unsigned and every change is checked: nothing wraps. Available
//! may go negative only through a warehouse fact (a count or adjustment below
//! what is committed); that opens an OVERCOMMITTED exception, kept until
//! available is back at zero or above.

use serde::{Deserialize, Serialize};

use crate::state::Bucket;
use crate::symbols::Sym;

pub type PositionIndex = u32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub sku: Sym,
    pub location: Sym,
    pub on_hand: u64,
    pub reserved: u64,
    pub allocated: u64,
    pub picked: u64,
    pub safety_stock: u64,
    /// The warehouse's sequence number of the last count applied.
    pub source_sequence: Option<u64>,
    /// The warehouse's own time of the last fact applied.
    pub as_of: Option<i64>,
    /// When we applied the last warehouse fact.
    pub received_at: Option<i64>,
    /// Since when available has been negative (an open OVERCOMMITTED exception).
    pub overcommitted_since: Option<i64>,
}

/// Which bucket overflowed, for the rejection's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overflow(pub &'static str);

impl Position {
    pub fn new(sku: Sym, location: Sym) -> Self {
        Position {
            sku,
            location,
            on_hand: 0,
            reserved: 0,
            allocated: 0,
            picked: 0,
            safety_stock: 0,
            source_sequence: None,
            as_of: None,
            received_at: None,
            overcommitted_since: None,
        }
    }

    /// Units promised to someone (held, allocated or picked).
    pub fn committed(&self) -> i128 {
        i128::from(self.reserved) + i128::from(self.allocated) + i128::from(self.picked)
    }

    /// Units that can still be promised. Wide arithmetic: cannot overflow.
    pub fn available(&self) -> i64 {
        let available = i128::from(self.on_hand) - self.committed() - i128::from(self.safety_stock);
        i64::try_from(available).unwrap_or(if available < 0 { i64::MIN } else { i64::MAX })
    }

    pub fn bucket(&self, bucket: Bucket) -> u64 {
        match bucket {
            Bucket::Reserved => self.reserved,
            Bucket::Allocated => self.allocated,
            Bucket::Picked => self.picked,
        }
    }

    fn bucket_mut(&mut self, bucket: Bucket) -> &mut u64 {
        match bucket {
            Bucket::Reserved => &mut self.reserved,
            Bucket::Allocated => &mut self.allocated,
            Bucket::Picked => &mut self.picked,
        }
    }

    /// Would adding `quantity` to the bucket overflow? Asked before a change
    /// is decided, so that applying it can never fail half-way.
    pub fn can_add(&self, bucket: Bucket, quantity: u64) -> Result<(), Overflow> {
        let name = match bucket {
            Bucket::Reserved => "reserved",
            Bucket::Allocated => "allocated",
            Bucket::Picked => "picked",
        };
        self.bucket(bucket)
            .checked_add(quantity)
            .map(|_| ())
            .ok_or(Overflow(name))
    }

    /// Move units between buckets (`None` is outside the position's
    /// commitments: nothing held, or gone). Panics on underflow or overflow:
    /// the decision that produced the move checked both.
    pub fn move_units(&mut self, from: Option<Bucket>, to: Option<Bucket>, quantity: u64) {
        if let Some(from) = from {
            let slot = self.bucket_mut(from);
            *slot = slot
                .checked_sub(quantity)
                .expect("a decided move never takes more than a bucket holds");
        }
        if let Some(to) = to {
            let slot = self.bucket_mut(to);
            *slot = slot
                .checked_add(quantity)
                .expect("a decided move was checked for overflow");
        }
    }

    /// Keep the OVERCOMMITTED exception in step with the buckets.
    pub fn track_overcommitment(&mut self, at: i64) {
        if self.available() < 0 {
            self.overcommitted_since.get_or_insert(at);
        } else {
            self.overcommitted_since = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbols::Symbols;
    use std::sync::Arc;

    fn position() -> Position {
        let mut symbols = Symbols::default();
        let sku = symbols.intern(&Arc::from("sku"));
        let location = symbols.intern(&Arc::from("loc"));
        Position::new(sku, location)
    }

    #[test]
    fn available_subtracts_every_commitment_and_safety_stock() {
        let mut p = position();
        p.on_hand = 10;
        p.reserved = 1;
        p.allocated = 2;
        p.picked = 3;
        p.safety_stock = 1;
        assert_eq!(p.available(), 3);
        p.on_hand = 0;
        assert_eq!(p.available(), -7);
    }

    #[test]
    fn available_never_overflows() {
        let mut p = position();
        p.reserved = u64::MAX;
        p.allocated = u64::MAX;
        assert_eq!(p.available(), i64::MIN);
        p.reserved = 0;
        p.allocated = 0;
        p.on_hand = u64::MAX;
        assert_eq!(p.available(), i64::MAX);
    }

    #[test]
    fn overflow_is_detected_before_a_move() {
        let mut p = position();
        p.reserved = u64::MAX - 1;
        assert!(p.can_add(Bucket::Reserved, 1).is_ok());
        assert_eq!(p.can_add(Bucket::Reserved, 2), Err(Overflow("reserved")));
    }

    #[test]
    fn overcommitment_opens_and_closes() {
        let mut p = position();
        p.on_hand = 1;
        p.reserved = 2;
        p.track_overcommitment(5);
        assert_eq!(p.overcommitted_since, Some(5));
        p.track_overcommitment(9);
        assert_eq!(p.overcommitted_since, Some(5), "keeps the first time");
        p.on_hand = 2;
        p.track_overcommitment(10);
        assert_eq!(p.overcommitted_since, None);
    }
}
