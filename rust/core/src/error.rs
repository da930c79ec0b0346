//! Every way the core can say no, with the facts that explain it.
//!
//! One variant per rejection, carrying what a caller or operator needs to act
//! (which SKU, how many were asked for, how many were there). The mapping to a
//! reason code lives here and nowhere else; the mapping to a gRPC status comes
//! from the reason catalogue.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::reason::ReasonCode;
use crate::state::{Action, LineState};

#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize, Deserialize)]
pub enum Rejection {
    #[error("invalid {field}: {reason}")]
    InvalidArgument { field: String, reason: String },

    #[error("unknown SKU {sku:?}")]
    UnknownSku { sku: String },

    #[error("unknown location {location:?}")]
    UnknownLocation { location: String },

    #[error("insufficient stock of {sku:?} at {location:?}: requested {requested}, available {available}")]
    InsufficientStock {
        sku: String,
        location: String,
        requested: u64,
        available: i64,
    },

    #[error("reservation {reservation_id} not found")]
    ReservationNotFound { reservation_id: String },

    #[error("reservation {reservation_id} expired at {expired_at} ms")]
    ReservationExpired {
        reservation_id: String,
        expired_at: i64,
    },

    #[error("cannot {action} reservation {reservation_id} in state {from}")]
    InvalidTransition {
        reservation_id: String,
        action: Action,
        from: LineState,
    },

    #[error("cannot {action} {requested} of {sku:?} at {location:?} on reservation {reservation_id}: it has {eligible} in a state that allows it")]
    QuantityExceedsReservation {
        reservation_id: String,
        action: Action,
        sku: String,
        location: String,
        requested: u64,
        eligible: u64,
    },

    #[error("{bucket} of {sku:?} at {location:?} would overflow")]
    QuantityOverflow {
        sku: String,
        location: String,
        bucket: String,
    },

    #[error(
        "adjusting {sku:?} at {location:?} by {delta} would leave on hand {on_hand} below zero"
    )]
    InsufficientOnHand {
        sku: String,
        location: String,
        on_hand: u64,
        delta: i64,
    },

    #[error("idempotency key {idempotency_key:?} was already used with a different request")]
    IdempotencyKeyReused { idempotency_key: String },

    #[error("stale update of {sku:?} at {location:?}: sequence {source_sequence} is not after the applied {applied_sequence}")]
    StaleUpdate {
        sku: String,
        location: String,
        source_sequence: u64,
        applied_sequence: u64,
    },

    // New variants go last: journaled rejections are decoded by position.
    #[error("channel {channel:?} may commit at most {cap} of {sku:?} at {location:?}; it has {committed}, requested {requested}")]
    ChannelCapReached {
        channel: String,
        sku: String,
        location: String,
        cap: u64,
        committed: u64,
        requested: u64,
    },

    #[error("{location:?} can pick {capacity} units on {date}; {used} are promised, requested {requested}")]
    CapacityExceeded {
        location: String,
        /// The promised ship date, local to the location ("YYYY-MM-DD").
        date: String,
        capacity: u64,
        used: u64,
        requested: u64,
    },

    #[error("{location:?} would ship on {promised}, after ship_by {ship_by} (cutoff {cutoff:?} in {time_zone})")]
    CutoffMissed {
        location: String,
        ship_by: String,
        promised: String,
        /// "HH:MM" local, "" when the location has none.
        cutoff: String,
        time_zone: String,
    },

    #[error(
        "tenant {tenant:?} may have at most {limit} {quota}; it has {used}, requested {requested}"
    )]
    QuotaExceeded {
        tenant: String,
        limit: u64,
        used: u64,
        requested: u64,
        /// Which cap: "open_holds" or "held_units".
        quota: String,
    },
}

impl Rejection {
    /// The one place a rejection becomes a reason code.
    pub fn reason(&self) -> ReasonCode {
        match self {
            Rejection::InvalidArgument { .. } => ReasonCode::INVALID_ARGUMENT,
            Rejection::UnknownSku { .. } => ReasonCode::UNKNOWN_SKU,
            Rejection::UnknownLocation { .. } => ReasonCode::UNKNOWN_LOCATION,
            Rejection::InsufficientStock { .. } => ReasonCode::INSUFFICIENT_STOCK,
            Rejection::ReservationNotFound { .. } => ReasonCode::RESERVATION_NOT_FOUND,
            Rejection::ReservationExpired { .. } => ReasonCode::RESERVATION_EXPIRED,
            Rejection::InvalidTransition { .. } => ReasonCode::INVALID_TRANSITION,
            Rejection::QuantityExceedsReservation { .. } => {
                ReasonCode::QUANTITY_EXCEEDS_RESERVATION
            }
            Rejection::QuantityOverflow { .. } => ReasonCode::QUANTITY_OVERFLOW,
            Rejection::InsufficientOnHand { .. } => ReasonCode::INSUFFICIENT_ON_HAND,
            Rejection::IdempotencyKeyReused { .. } => ReasonCode::IDEMPOTENCY_KEY_REUSED,
            Rejection::StaleUpdate { .. } => ReasonCode::STALE_UPDATE,
            Rejection::ChannelCapReached { .. } => ReasonCode::CHANNEL_CAP_REACHED,
            Rejection::CapacityExceeded { .. } => ReasonCode::CAPACITY_EXCEEDED,
            Rejection::CutoffMissed { .. } => ReasonCode::CUTOFF_MISSED,
            Rejection::QuotaExceeded { .. } => ReasonCode::QUOTA_EXCEEDED,
        }
    }

    /// Whether the outcome is a business decision that an idempotency key
    /// remembers. A malformed request was never decided, and a reused key is a
    /// statement about another request, so neither is stored.
    pub fn is_decision(&self) -> bool {
        !matches!(
            self,
            Rejection::InvalidArgument { .. } | Rejection::IdempotencyKeyReused { .. }
        )
    }

    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> Self {
        Rejection::InvalidArgument {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}
