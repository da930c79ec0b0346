//! Reservations: many lines, each with its own state, and their history.
//!
//! Kept small on purpose (one open single-line hold is one of these plus its
//! idempotency record): names are symbols, the first line and the first
//! history entry live inline, and the creation time and rule version are
//! read from the first history entry instead of being stored twice.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::ids::ReservationId;
use crate::position::PositionIndex;
use crate::reason::ReasonCode;
use crate::ship_date::ShipDate;
use crate::state::{Action, LineState};
use crate::symbols::Sym;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub position: PositionIndex,
    pub state: LineState,
    pub quantity: u64,
    /// The ship date promised when the line was allocated at a location
    /// with a capacity rule; kept through pick, ship and return.
    pub promised: Option<ShipDate>,
}

/// One transition of a reservation, as the history shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: i64,
    pub action: Action,
    /// The reservation's state before; `None` for the reserve that created it.
    pub from: Option<LineState>,
    pub to: LineState,
    pub reason: ReasonCode,
    pub actor: Sym,
    pub rule_version: Sym,
    /// Shared with the idempotency record; `None` for expiry, which no caller asked for.
    pub idempotency_key: Option<Arc<str>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: ReservationId,
    pub tenant: Sym,
    pub channel: Sym,
    pub order_ref: Box<str>,
    pub expires_at: i64,
    pub lines: SmallVec<[Line; 1]>,
    /// Never empty: the first entry is the reserve that created it.
    pub history: SmallVec<[HistoryEntry; 1]>,
    /// Held without the feasibility check (see `Meta::unverified`).
    pub unverified: bool,
}

impl Reservation {
    pub fn state(&self) -> LineState {
        LineState::of_reservation(self.lines.iter().map(|line| line.state))
    }

    pub fn created_at(&self) -> i64 {
        self.history[0].at
    }

    /// The rule version that created the reservation.
    pub fn rule_version(&self) -> Sym {
        self.history[0].rule_version
    }

    pub fn is_holding(&self) -> bool {
        self.lines
            .iter()
            .any(|line| line.state == LineState::Reserved)
    }
}
