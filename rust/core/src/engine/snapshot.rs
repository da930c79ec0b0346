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

/// 2: lines carry their promised ship date. Format 1 (lines without one)
/// is still read: its lines promised nothing.
const FORMAT: u32 = 2;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot is not readable: {0}")]
    Corrupt(String),
    #[error("snapshot format {found} is not {FORMAT} (nor the older 1)")]
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
        let corrupt = |e: postcard::Error| SnapshotError::Corrupt(e.to_string());
        let (format, _) = postcard::take_from_bytes::<u32>(bytes).map_err(corrupt)?;
        let snapshot: Snapshot = match format {
            FORMAT => postcard::from_bytes(bytes).map_err(corrupt)?,
            1 => postcard::from_bytes::<v1::Snapshot>(bytes)
                .map_err(corrupt)?
                .into(),
            found => return Err(SnapshotError::Format { found }),
        };
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
        engine.rebuild_ship_capacity();
        engine.rebuild_tenant_holds();
        engine.check_invariants().map_err(SnapshotError::Corrupt)?;
        Ok(engine)
    }
}

/// Format 1: the same state, with lines that had no promised ship date.
mod v1 {
    use std::sync::Arc;

    use serde::Deserialize;
    use smallvec::SmallVec;

    use crate::idempotency::IdempotencyRecord;
    use crate::ids::ReservationId;
    use crate::position::{Position, PositionIndex};
    use crate::reservation::{HistoryEntry, Line, Reservation};
    use crate::state::LineState;
    use crate::symbols::Sym;

    #[derive(Deserialize)]
    pub(super) struct Snapshot {
        format: u32,
        next_seq: u64,
        minted: u64,
        rule_version: Sym,
        symbols: Vec<Arc<str>>,
        positions: Vec<Position>,
        reservations: Vec<ReservationV1>,
        idempotency: Vec<IdempotencyRecord>,
    }

    #[derive(Deserialize)]
    struct LineV1 {
        position: PositionIndex,
        state: LineState,
        quantity: u64,
    }

    #[derive(Deserialize)]
    struct ReservationV1 {
        id: ReservationId,
        tenant: Sym,
        channel: Sym,
        order_ref: Box<str>,
        expires_at: i64,
        lines: SmallVec<[LineV1; 1]>,
        history: SmallVec<[HistoryEntry; 1]>,
    }

    impl From<Snapshot> for super::Snapshot {
        fn from(old: Snapshot) -> Self {
            let reservations = old
                .reservations
                .into_iter()
                .map(|r| Reservation {
                    id: r.id,
                    tenant: r.tenant,
                    channel: r.channel,
                    order_ref: r.order_ref,
                    expires_at: r.expires_at,
                    lines: r
                        .lines
                        .into_iter()
                        .map(|l| Line {
                            position: l.position,
                            state: l.state,
                            quantity: l.quantity,
                            promised: None,
                        })
                        .collect(),
                    history: r.history,
                })
                .collect();
            super::Snapshot {
                format: old.format,
                next_seq: old.next_seq,
                minted: old.minted,
                rule_version: old.rule_version,
                symbols: old.symbols,
                positions: old.positions,
                reservations,
                idempotency: old.idempotency,
            }
        }
    }
}
