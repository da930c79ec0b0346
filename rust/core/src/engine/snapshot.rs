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

/// 3: reservations say whether they were held unverified. 2: lines carry
/// their promised ship date. Formats 1 and 2 are still read: their lines
/// promised nothing (1) and their holds were all verified (1 and 2).
const FORMAT: u32 = 3;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("snapshot is not readable: {0}")]
    Corrupt(String),
    #[error("snapshot format {found} is not {FORMAT} (nor the older 1 or 2)")]
    Format { found: u32 },
    #[error("journal out of sequence: expected event {expected}, found {found}")]
    OutOfSequence { expected: u64, found: u64 },
}

/// The same in every format but for how a reservation is written (`R`).
#[derive(Serialize, Deserialize)]
struct Snapshot<R = Reservation> {
    format: u32,
    next_seq: u64,
    minted: u64,
    rule_version: Sym,
    symbols: Vec<Arc<str>>,
    positions: Vec<Position>,
    reservations: Vec<R>,
    idempotency: Vec<IdempotencyRecord>,
}

impl<R: Into<Reservation>> Snapshot<R> {
    fn upgraded(self) -> Snapshot {
        Snapshot {
            format: self.format,
            next_seq: self.next_seq,
            minted: self.minted,
            rule_version: self.rule_version,
            symbols: self.symbols,
            positions: self.positions,
            reservations: self.reservations.into_iter().map(Into::into).collect(),
            idempotency: self.idempotency,
        }
    }
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
            2 => postcard::from_bytes::<Snapshot<older::ReservationV2>>(bytes)
                .map_err(corrupt)?
                .upgraded(),
            1 => postcard::from_bytes::<Snapshot<older::ReservationV1>>(bytes)
                .map_err(corrupt)?
                .upgraded(),
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

/// How formats 1 and 2 wrote a reservation.
mod older {
    use serde::Deserialize;
    use smallvec::SmallVec;

    use crate::ids::ReservationId;
    use crate::position::PositionIndex;
    use crate::reservation::{HistoryEntry, Line, Reservation};
    use crate::state::LineState;
    use crate::symbols::Sym;

    /// Format 2: no `unverified` (every hold was verified).
    #[derive(Deserialize)]
    pub(super) struct ReservationV2 {
        id: ReservationId,
        tenant: Sym,
        channel: Sym,
        order_ref: Box<str>,
        expires_at: i64,
        lines: SmallVec<[Line; 1]>,
        history: SmallVec<[HistoryEntry; 1]>,
    }

    impl From<ReservationV2> for Reservation {
        fn from(r: ReservationV2) -> Self {
            Reservation {
                id: r.id,
                tenant: r.tenant,
                channel: r.channel,
                order_ref: r.order_ref,
                expires_at: r.expires_at,
                lines: r.lines,
                history: r.history,
                unverified: false,
            }
        }
    }

    /// Format 1: lines without a promised ship date, too.
    #[derive(Deserialize)]
    pub(super) struct ReservationV1 {
        id: ReservationId,
        tenant: Sym,
        channel: Sym,
        order_ref: Box<str>,
        expires_at: i64,
        lines: SmallVec<[LineV1; 1]>,
        history: SmallVec<[HistoryEntry; 1]>,
    }

    #[derive(Deserialize)]
    struct LineV1 {
        position: PositionIndex,
        state: LineState,
        quantity: u64,
    }

    impl From<ReservationV1> for Reservation {
        fn from(r: ReservationV1) -> Self {
            ReservationV2 {
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
            }
            .into()
        }
    }
}
