//! Requests: who asks (meta) and what they ask for (command).
//!
//! The command is also what an idempotency key is bound to: its canonical
//! encoding (postcard, in declaration order; do not reorder variants or
//! fields) is hashed into the request's fingerprint.

use serde::{Deserialize, Serialize};

use crate::state::Action;

/// One line of a request. An empty location on a reserve lets the engine
/// choose; on the other calls it matches the line wherever it is held.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LineRequest {
    pub sku: String,
    pub location: String,
    pub quantity: u64,
}

impl LineRequest {
    pub fn new(sku: impl Into<String>, location: impl Into<String>, quantity: u64) -> Self {
        LineRequest {
            sku: sku.into(),
            location: location.into(),
            quantity,
        }
    }
}

/// Who is asking, under which key, and when. `now` is the decision time:
/// the core reads no clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub tenant: String,
    pub idempotency_key: String,
    pub actor: String,
    pub now: i64,
    /// The service could not make the feasibility check and the active rule
    /// set accepts a reserve without it: the hold is marked unverified, and
    /// so is every replay of it. The service's verdict, not the caller's
    /// request: it is not part of the fingerprint.
    pub unverified: bool,
}

impl Meta {
    pub fn new(
        tenant: impl Into<String>,
        idempotency_key: impl Into<String>,
        actor: impl Into<String>,
        now: i64,
    ) -> Self {
        Meta {
            tenant: tenant.into(),
            idempotency_key: idempotency_key.into(),
            actor: actor.into(),
            now,
            unverified: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Hold stock. `hold_seconds` 0 takes the default hold.
    Reserve {
        order_ref: String,
        channel: String,
        lines: Vec<LineRequest>,
        hold_seconds: i64,
        allow_partial: bool,
        /// Where the order ships to, for the `nearest` strategy ("" when unknown).
        destination_region: String,
    },
    /// Turn a hold into a commitment; with lines, allocate that much and release the rest.
    Allocate {
        reservation_id: String,
        lines: Vec<LineRequest>,
        /// The latest acceptable promised ship date, "YYYY-MM-DD" ("" when
        /// any will do); only locations with a capacity rule promise one.
        ship_by: String,
    },
    Release {
        reservation_id: String,
        note: String,
    },
    RenewHold {
        reservation_id: String,
        hold_seconds: i64,
    },
    ConfirmPick {
        reservation_id: String,
        lines: Vec<LineRequest>,
        /// The warehouse's time of the fact; `None` takes the decision time.
        as_of: Option<i64>,
    },
    Unpick {
        reservation_id: String,
        lines: Vec<LineRequest>,
    },
    ConfirmShipment {
        reservation_id: String,
        lines: Vec<LineRequest>,
        /// The warehouse's time of the fact; `None` takes the decision time.
        as_of: Option<i64>,
    },
    RecordReturn {
        reservation_id: String,
        lines: Vec<LineRequest>,
        restock: bool,
        /// The warehouse's time of the fact; `None` takes the decision time.
        as_of: Option<i64>,
    },
    /// The warehouse's absolute count, with its own sequence number and time.
    SetStock {
        sku: String,
        location: String,
        on_hand: u64,
        source_sequence: u64,
        /// The warehouse's time of the fact; `None` takes the decision time.
        as_of: Option<i64>,
    },
    AdjustStock {
        sku: String,
        location: String,
        delta: i64,
        adjustment_reason: String,
    },
    SetSafetyStock {
        sku: String,
        location: String,
        quantity: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub meta: Meta,
    pub command: Command,
}

impl Command {
    pub const fn action(&self) -> Action {
        match self {
            Command::Reserve { .. } => Action::Reserve,
            Command::Allocate { .. } => Action::Allocate,
            Command::Release { .. } => Action::Release,
            Command::RenewHold { .. } => Action::RenewHold,
            Command::ConfirmPick { .. } => Action::Pick,
            Command::Unpick { .. } => Action::Unpick,
            Command::ConfirmShipment { .. } => Action::Ship,
            Command::RecordReturn { .. } => Action::Return,
            Command::SetStock { .. } => Action::SetStock,
            Command::AdjustStock { .. } => Action::AdjustStock,
            Command::SetSafetyStock { .. } => Action::SetSafetyStock,
        }
    }
}
