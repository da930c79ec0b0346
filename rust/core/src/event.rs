//! The journal: every accepted change and every remembered rejection, in
//! order, as facts. Applying the events in order to an empty engine (or to
//! the snapshot they follow) rebuilds the state exactly; the live path
//! applies the same events through the same code.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Rejection;
use crate::ids::ReservationId;
use crate::reason::ReasonCode;
use crate::ship_date::ShipDate;
use crate::state::{Action, LineState};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Consecutive from 1; a gap or repeat is refused on replay.
    pub seq: u64,
    /// The decision time (`now` of the request that caused it).
    pub at: i64,
    pub tenant: Arc<str>,
    pub actor: Arc<str>,
    /// `None` for changes nobody asked for (expiry, retention).
    pub idempotency_key: Option<Arc<str>>,
    pub fingerprint: u64,
    pub rule_version: Arc<str>,
    pub reason: ReasonCode,
    pub change: Change,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacedLine {
    pub sku: Arc<str>,
    pub location: Arc<str>,
    pub quantity: u64,
}

/// Move `quantity` units of line `line` to state `to`. Less than the whole
/// line splits it: the line keeps the rest and a new line is appended. The
/// SKU and location are the line's, carried so that the event stands on its
/// own for the audit trail and downstream consumers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineMove {
    pub line: u32,
    pub sku: Arc<str>,
    pub location: Arc<str>,
    pub quantity: u64,
    pub to: LineState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    HoldPlaced {
        reservation_id: ReservationId,
        order_ref: String,
        channel: Arc<str>,
        expires_at: i64,
        lines: Vec<PlacedLine>,
        /// Decided without the feasibility check (see `Meta::unverified`).
        /// Last on purpose: holds journaled before it end where it begins.
        unverified: bool,
    },
    LinesMoved {
        reservation_id: ReservationId,
        action: Action,
        moves: Vec<LineMove>,
        /// Returned units go back on hand.
        restock: bool,
        note: String,
        /// The warehouse's time of the fact, for warehouse-owned moves.
        as_of: Option<i64>,
    },
    HoldRenewed {
        reservation_id: ReservationId,
        expires_at: i64,
    },
    StockCounted {
        sku: Arc<str>,
        location: Arc<str>,
        on_hand: u64,
        source_sequence: u64,
        as_of: i64,
    },
    StockAdjusted {
        sku: Arc<str>,
        location: Arc<str>,
        delta: i64,
        adjustment_reason: String,
    },
    SafetyStockSet {
        sku: Arc<str>,
        location: Arc<str>,
        quantity: u64,
    },
    /// A business rejection, journaled so that its key replays it after a restart.
    Rejected {
        rejection: Rejection,
    },
    /// Idempotency records decided before `decided_before` were dropped.
    KeysPurged {
        decided_before: i64,
    },
    RuleVersionSet {
        version: Arc<str>,
    },
    /// An allocation that promised ship dates: the moves as `LinesMoved`
    /// makes them (action allocate, no restock, no note, no as-of), and the
    /// date promised at each location with a capacity rule. Its allocated
    /// lines there count against that day's pick capacity.
    LinesAllocated {
        reservation_id: ReservationId,
        moves: Vec<LineMove>,
        promised: Vec<Promise>,
    },
}

/// The ship date promised for the units an allocation commits at a location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub location: Arc<str>,
    pub date: ShipDate,
}

impl Event {
    /// A short name of the change, for indexes and feeds.
    pub fn kind(&self) -> &'static str {
        match &self.change {
            Change::HoldPlaced { .. } => "hold_placed",
            Change::LinesMoved { .. } => "lines_moved",
            Change::HoldRenewed { .. } => "hold_renewed",
            Change::StockCounted { .. } => "stock_counted",
            Change::StockAdjusted { .. } => "stock_adjusted",
            Change::SafetyStockSet { .. } => "safety_stock_set",
            Change::Rejected { .. } => "rejected",
            Change::KeysPurged { .. } => "keys_purged",
            Change::RuleVersionSet { .. } => "rule_version_set",
            Change::LinesAllocated { .. } => "lines_allocated",
        }
    }

    /// The reservation the event is about, if any.
    pub fn reservation_id(&self) -> Option<ReservationId> {
        match &self.change {
            Change::HoldPlaced { reservation_id, .. }
            | Change::LinesMoved { reservation_id, .. }
            | Change::HoldRenewed { reservation_id, .. }
            | Change::LinesAllocated { reservation_id, .. } => Some(*reservation_id),
            Change::StockCounted { .. }
            | Change::StockAdjusted { .. }
            | Change::SafetyStockSet { .. }
            | Change::Rejected { .. }
            | Change::KeysPurged { .. }
            | Change::RuleVersionSet { .. } => None,
        }
    }

    /// The SKUs the event touches, each once, in order of appearance.
    pub fn skus(&self) -> Vec<&str> {
        let mut skus: Vec<&str> = match &self.change {
            Change::HoldPlaced { lines, .. } => lines.iter().map(|l| &*l.sku).collect(),
            Change::LinesMoved { moves, .. } | Change::LinesAllocated { moves, .. } => {
                moves.iter().map(|m| &*m.sku).collect()
            }
            Change::StockCounted { sku, .. }
            | Change::StockAdjusted { sku, .. }
            | Change::SafetyStockSet { sku, .. } => vec![&**sku],
            Change::HoldRenewed { .. }
            | Change::Rejected { .. }
            | Change::KeysPurged { .. }
            | Change::RuleVersionSet { .. } => Vec::new(),
        };
        let mut seen = Vec::with_capacity(skus.len());
        skus.retain(|sku| {
            let first = !seen.contains(sku);
            seen.push(*sku);
            first
        });
        skus
    }

    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("events always encode")
    }

    /// Encode into a reused buffer (cleared first), sparing an allocation per event.
    pub fn encode_into(&self, mut buffer: Vec<u8>) -> Vec<u8> {
        buffer.clear();
        postcard::to_extend(self, buffer).expect("events always encode")
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, postcard::Error> {
        postcard::from_bytes(bytes).or_else(|error| {
            // A hold journaled before `unverified` existed ends just before
            // that last flag; read it as verified. Anything else that does
            // not decode keeps its own error.
            let mut padded = Vec::with_capacity(bytes.len() + 1);
            padded.extend_from_slice(bytes);
            padded.push(0);
            match postcard::from_bytes::<Event>(&padded) {
                Ok(event) if matches!(event.change, Change::HoldPlaced { .. }) => Ok(event),
                _ => Err(error),
            }
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("events always encode")
    }
}
