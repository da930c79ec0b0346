//! The whole state to bytes and back.
//!
//! The encoding is canonical: two engines in the same state produce the same
//! bytes (idempotency records are written in key order, whatever slots they
//! sit in), which is how the tests show that restore + replay equals the live
//! state. Indexes and the expiry heap are rebuilt, not stored.

use std::hash::BuildHasher;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::idempotency::IdempotencyRecord;
use crate::position::Position;
use crate::reservation::Reservation;
use crate::symbols::{Sym, Symbols};

use super::{Config, Engine};

const FORMAT: u32 = 1;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot is not readable: {0}")]
    Corrupt(String),
    #[error("snapshot format {found} is not {FORMAT}")]
    Format { found: u32 },
    #[error("journal out of sequence: expected event {expected}, found {found}")]
    OutOfSequence { expected: u64, found: u64 },
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    format: u32,
    next_seq: u64,
    minted: u64,
    rule_version: Sym,
    symbols: Vec<Arc<str>>,
    positions: Vec<Position>,
    reservations: Vec<Reservation>,
    idempotency: Vec<IdempotencyRecord>,
}

impl Engine {
    pub fn snapshot(&self) -> Vec<u8> {
        let mut idempotency: Vec<IdempotencyRecord> = self.idempotency.iter().cloned().collect();
        idempotency.sort_unstable_by(|a, b| (a.tenant, &a.key).cmp(&(b.tenant, &b.key)));
        let snapshot = Snapshot {
            format: FORMAT,
            next_seq: self.next_seq,
            minted: self.minted,
            rule_version: self.rule_version,
            symbols: self.symbols.names().to_vec(),
            positions: self.positions.clone(),
            reservations: self.reservations.clone(),
            idempotency,
        };
        postcard::to_stdvec(&snapshot).expect("snapshots always encode")
    }

    pub fn restore(config: Config, bytes: &[u8]) -> Result<Engine, SnapshotError> {
        let snapshot: Snapshot =
            postcard::from_bytes(bytes).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
        if snapshot.format != FORMAT {
            return Err(SnapshotError::Format {
                found: snapshot.format,
            });
        }
        let mut engine = Engine::new(config);
        engine.symbols = Symbols::from_names(snapshot.symbols);
        engine.rule_version = snapshot.rule_version;
        engine.next_seq = snapshot.next_seq;
        engine.minted = snapshot.minted;
        for (index, position) in snapshot.positions.iter().enumerate() {
            let index = index as u32;
            engine
                .position_index
                .insert((position.sku, position.location), index);
            engine
                .sku_positions
                .entry(position.sku)
                .or_default()
                .push(index);
            engine.locations.insert(position.location, ());
        }
        engine.positions = snapshot.positions;
        engine.reservations = snapshot.reservations;
        let Engine {
            reservation_index,
            reservations,
            id_hasher,
            ..
        } = &mut engine;
        for (slot, reservation) in reservations.iter().enumerate() {
            reservation_index.insert_unique(
                id_hasher.hash_one(reservation.id),
                slot as u32,
                |&s| id_hasher.hash_one(reservations[s as usize].id),
            );
        }
        for record in snapshot.idempotency {
            engine.idempotency.insert(record);
        }
        engine.rebuild_expiry();
        engine.rebuild_channel_units();
        engine.check_invariants().map_err(SnapshotError::Corrupt)?;
        Ok(engine)
    }
}
