//! Idempotency records: `(tenant, key) -> (fingerprint, outcome, decided_at)`.
//!
//! Once a request reached a decision, accepted or rejected for a business
//! reason, its outcome is kept here until the retention passes. Records live
//! in a slab (dense, reused slots) with a hash index of 4-byte slot numbers,
//! which costs far less per key than a map that stores records inline.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::position::PositionIndex;
use crate::reason::ReasonCode;
use crate::symbols::Sym;

/// Index of a reservation in the engine's reservation list.
pub type ReservationSlot = u32;

/// What a decision was about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Reservation(ReservationSlot),
    Position(PositionIndex),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredOutcome {
    Accepted {
        reason: ReasonCode,
        subject: Subject,
    },
    Rejected(Box<Rejection>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub tenant: Sym,
    pub key: Arc<str>,
    /// Hash of the method and its canonical request; tells a true repeat from
    /// a different request that reuses the key.
    pub fingerprint: u64,
    pub decided_at: i64,
    pub rule_version: Sym,
    pub outcome: StoredOutcome,
}

#[derive(Clone, Default)]
pub struct IdempotencyTable {
    slots: Vec<Option<IdempotencyRecord>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl IdempotencyTable {
    fn hash(hasher: &DefaultHashBuilder, tenant: Sym, key: &str) -> u64 {
        hasher.hash_one((tenant, key))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn get(&self, tenant: Sym, key: &str) -> Option<&IdempotencyRecord> {
        let hash = Self::hash(&self.hasher, tenant, key);
        let slots = &self.slots;
        self.index
            .find(hash, |&slot| {
                let record = slots[slot as usize]
                    .as_ref()
                    .expect("indexed slots are full");
                record.tenant == tenant && &*record.key == key
            })
            .map(|&slot| {
                slots[slot as usize]
                    .as_ref()
                    .expect("indexed slots are full")
            })
    }

    /// Store a record, replacing any earlier one for the same tenant and key
    /// (an expired record that was not purged yet).
    pub fn insert(&mut self, record: IdempotencyRecord) {
        let hash = Self::hash(&self.hasher, record.tenant, &record.key);
        let Self {
            slots,
            free,
            index,
            hasher,
        } = self;
        let existing = index.find(hash, |&slot| {
            let other = slots[slot as usize]
                .as_ref()
                .expect("indexed slots are full");
            other.tenant == record.tenant && other.key == record.key
        });
        if let Some(&slot) = existing {
            slots[slot as usize] = Some(record);
            return;
        }
        let slot = match free.pop() {
            Some(slot) => {
                slots[slot as usize] = Some(record);
                slot
            }
            None => {
                slots.push(Some(record));
                u32::try_from(slots.len() - 1).expect("fewer than 2^32 idempotency records")
            }
        };
        index.insert_unique(hash, slot, |&slot| {
            let record = slots[slot as usize]
                .as_ref()
                .expect("indexed slots are full");
            Self::hash(hasher, record.tenant, &record.key)
        });
    }

    /// Drop every record decided before `cutoff`; returns how many went.
    pub fn purge_decided_before(&mut self, cutoff: i64) -> usize {
        let Self {
            slots, free, index, ..
        } = self;
        let before = index.len();
        index.retain(|&mut slot| {
            let record = slots[slot as usize]
                .as_ref()
                .expect("indexed slots are full");
            if record.decided_at < cutoff {
                slots[slot as usize] = None;
                free.push(slot);
                false
            } else {
                true
            }
        });
        before - index.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &IdempotencyRecord> {
        self.slots.iter().flatten()
    }

    /// Every indexed slot is full and every full slot is indexed exactly once.
    pub fn check(&self) -> Result<(), String> {
        let full = self.slots.iter().filter(|slot| slot.is_some()).count();
        if full != self.index.len() || full + self.free.len() != self.slots.len() {
            return Err(format!(
                "idempotency table: {full} full slots, {} indexed, {} free of {}",
                self.index.len(),
                self.free.len(),
                self.slots.len()
            ));
        }
        for record in self.iter() {
            if self.get(record.tenant, &record.key).map(|r| r as *const _)
                != Some(record as *const _)
            {
                return Err(format!("idempotency key {:?} is not indexed", record.key));
            }
        }
        Ok(())
    }
}
