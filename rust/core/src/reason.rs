//! The one catalogue of reason codes.
//!
//! Every answer holdfast gives carries one of these codes. For each code the
//! catalogue says which gRPC status carries it, whether retrying the same call
//! can help, and what it means in one line. The proto enum
//! `holdfast.v1.ReasonCode` mirrors this list (same names, same numbers) and
//! the Python service reads the catalogue from here rather than re-typing it.

use serde::{Deserialize, Serialize};

/// The gRPC status a reason code travels under (canonical names and numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum GrpcStatus {
    Ok = 0,
    InvalidArgument = 3,
    NotFound = 5,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    Unavailable = 14,
    Unauthenticated = 16,
}

impl GrpcStatus {
    pub const fn name(self) -> &'static str {
        match self {
            GrpcStatus::Ok => "OK",
            GrpcStatus::InvalidArgument => "INVALID_ARGUMENT",
            GrpcStatus::NotFound => "NOT_FOUND",
            GrpcStatus::PermissionDenied => "PERMISSION_DENIED",
            GrpcStatus::ResourceExhausted => "RESOURCE_EXHAUSTED",
            GrpcStatus::FailedPrecondition => "FAILED_PRECONDITION",
            GrpcStatus::Aborted => "ABORTED",
            GrpcStatus::Unavailable => "UNAVAILABLE",
            GrpcStatus::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct ReasonInfo {
    pub code: ReasonCode,
    pub name: &'static str,
    pub status: GrpcStatus,
    /// Whether sending the same call again (same key) can succeed later.
    pub retryable: bool,
    pub meaning: &'static str,
}

macro_rules! catalogue {
    ($($variant:ident = $num:literal, $status:ident, $retry:literal, $meaning:literal;)*) => {
        /// Why a decision came out the way it did. Numbers are stable: they are
        /// the proto enum's numbers and are stored in journals.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[repr(u16)]
        #[allow(non_camel_case_types)]
        pub enum ReasonCode {
            $($variant = $num,)*
        }

        impl ReasonCode {
            pub fn info(self) -> &'static ReasonInfo {
                match self {
                    $(ReasonCode::$variant => &ReasonInfo {
                        code: ReasonCode::$variant,
                        name: stringify!($variant),
                        status: GrpcStatus::$status,
                        retryable: $retry,
                        meaning: $meaning,
                    },)*
                }
            }
        }

        /// Every reason code, in number order.
        pub const CATALOGUE: &[ReasonInfo] = &[
            $(ReasonInfo {
                code: ReasonCode::$variant,
                name: stringify!($variant),
                status: GrpcStatus::$status,
                retryable: $retry,
                meaning: $meaning,
            },)*
        ];
    };
}

catalogue! {
    // Accepted decisions.
    RESERVED = 1, Ok, false, "Every requested unit is held until the hold expires.";
    PARTIALLY_RESERVED = 2, Ok, false, "Partial reservation was allowed; some units are held, the rest were not available.";
    ALLOCATED = 3, Ok, false, "The hold became a firm order commitment; any unallocated rest was released.";
    RELEASED = 4, Ok, false, "The held or allocated units went back to available stock.";
    HOLD_RENEWED = 5, Ok, false, "The hold's expiry moved to the new time.";
    HOLD_EXPIRED = 6, Ok, false, "The hold reached its expiry and its units went back to available stock.";
    PICKED = 7, Ok, false, "The warehouse picked the allocated units.";
    UNPICKED = 8, Ok, false, "Picked units went back to allocated (put back on the shelf).";
    SHIPPED = 9, Ok, false, "The picked units left the building; on hand went down by the same amount.";
    RETURNED = 10, Ok, false, "Shipped units came back; restocked units went back on hand.";
    STOCK_SET = 11, Ok, false, "The warehouse's count was applied.";
    STOCK_ADJUSTED = 12, Ok, false, "The warehouse's adjustment was applied.";
    OVERCOMMITTED = 13, Ok, false, "The warehouse fact was applied and leaves commitments above what is on hand: an open exception.";
    SAFETY_STOCK_SET = 14, Ok, false, "The position's safety stock changed.";
    RULE_SET_ACTIVATED = 15, Ok, false, "Decisions from now on are made under a new rule-set version.";
    KEYS_PURGED = 16, Ok, false, "Idempotency keys past their retention were forgotten.";
    // Rejections decided by the core.
    INVALID_ARGUMENT = 20, InvalidArgument, false, "A field is missing, malformed or out of its limits; nothing was decided or stored.";
    UNKNOWN_SKU = 21, FailedPrecondition, false, "No position exists for this SKU anywhere.";
    UNKNOWN_LOCATION = 22, FailedPrecondition, false, "No position exists at this location.";
    INSUFFICIENT_STOCK = 23, FailedPrecondition, true, "Fewer units are available than requested; nothing was held.";
    RESERVATION_NOT_FOUND = 24, NotFound, false, "No reservation with this id exists for the caller's tenant.";
    RESERVATION_EXPIRED = 25, FailedPrecondition, false, "The hold expired before this call; its units were released.";
    INVALID_TRANSITION = 26, FailedPrecondition, false, "No line of the reservation is in a state this action can move.";
    QUANTITY_EXCEEDS_RESERVATION = 27, FailedPrecondition, false, "The call names more units than the reservation has in the state the action needs.";
    QUANTITY_OVERFLOW = 28, FailedPrecondition, false, "The change would take a stock bucket past its largest value.";
    INSUFFICIENT_ON_HAND = 29, FailedPrecondition, false, "The adjustment would take on hand below zero.";
    IDEMPOTENCY_KEY_REUSED = 30, FailedPrecondition, false, "The idempotency key was already used with a different request.";
    STALE_UPDATE = 31, FailedPrecondition, false, "The warehouse fact is older than (or as old as) the one already applied.";
    CHANNEL_CAP_REACHED = 32, FailedPrecondition, false, "The channel already holds as much of this position as the rules allow.";
    CAPACITY_EXCEEDED = 33, FailedPrecondition, true, "The location's daily pick capacity is used up for the promised day.";
    CUTOFF_MISSED = 34, FailedPrecondition, false, "The carrier cutoff for the promised ship date has passed.";
    INFEASIBLE = 35, FailedPrecondition, false, "The external feasibility check said the request cannot be fulfilled; nothing was held.";
    RULE_SET_VERSION_EXISTS = 36, FailedPrecondition, false, "A rule set with this version is already deployed with other content; deployed versions never change.";
    RULE_SET_NOT_FOUND = 37, NotFound, false, "No rule set with this version is deployed (or there is no earlier active version to roll back to).";
    // Refusals decided by the service around the core.
    OVERLOADED = 40, ResourceExhausted, true, "The service is at capacity; retry after the delay given.";
    DEPENDENCY_UNAVAILABLE = 41, Unavailable, true, "A dependency's circuit breaker is open; retry after the delay given.";
    IDEMPOTENCY_IN_FLIGHT = 42, Aborted, true, "The first request with this key is not durable yet; retry after the delay given.";
    UNAUTHENTICATED = 43, Unauthenticated, false, "The call carries no valid identity.";
    PERMISSION_DENIED = 44, PermissionDenied, false, "The caller's role may not make this call.";
    QUOTA_EXCEEDED = 45, ResourceExhausted, true, "The tenant reached one of its abuse limits (holds, units or rate).";
}

impl ReasonCode {
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn from_name(name: &str) -> Option<Self> {
        CATALOGUE
            .iter()
            .find(|entry| entry.name == name)
            .map(|entry| entry.code)
    }

    pub fn is_accepted(self) -> bool {
        self.info().status == GrpcStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_are_unique() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|e| e.name).collect();
        let mut numbers: Vec<_> = CATALOGUE.iter().map(|e| e.code as u16).collect();
        names.sort_unstable();
        names.dedup();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(names.len(), CATALOGUE.len());
        assert_eq!(numbers.len(), CATALOGUE.len());
    }

    #[test]
    fn round_trips_by_name() {
        for entry in CATALOGUE {
            assert_eq!(ReasonCode::from_name(entry.name), Some(entry.code));
            assert_eq!(entry.code.name(), entry.name);
        }
        assert_eq!(ReasonCode::from_name("NOPE"), None);
    }
}
