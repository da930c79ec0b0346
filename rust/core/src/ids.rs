//! Reservation ids: UUIDv7, minted by holdfast at the first decision.
//!
//! The core reads no clock and no random source: the timestamp is the
//! decision's `now`, and the rest is this engine's node id and a counter that
//! is part of the engine's state (so a replay mints nothing and a snapshot
//! carries the counter on). Distinct node ids keep replicas from colliding.

use uuid::{Builder, Uuid};

pub type ReservationId = Uuid;

/// Node ids use 20 bits of the id (the version and variant stamps take the rest
/// of the bytes they share), so at most 2^20 engines can mint side by side.
pub const MAX_NODE_ID: u32 = (1 << 20) - 1;

/// Bytes 6..16 of a v7 UUID are ours to fill (the version and variant bits are
/// then stamped over bytes 6 and 8). The counter takes the last six bytes,
/// which no stamp touches; the node id's 20 bits take the low half of byte 6,
/// byte 7 and byte 9.
pub fn mint(now_ms: i64, node: u32, counter: u64) -> ReservationId {
    debug_assert!(node <= MAX_NODE_ID, "node ids are validated at start-up");
    let mut random = [0u8; 10];
    let node = node.to_be_bytes();
    random[0] = node[1];
    random[1] = node[2];
    random[3] = node[3];
    random[4..10].copy_from_slice(&counter.to_be_bytes()[2..8]);
    let millis = u64::try_from(now_ms).unwrap_or(0);
    Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

pub fn parse(text: &str) -> Option<ReservationId> {
    Uuid::try_parse(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_are_v7_and_distinct() {
        let a = mint(1_700_000_000_000, 7, 1);
        let b = mint(1_700_000_000_000, 7, 2);
        let c = mint(1_700_000_000_000, 8, 1);
        let top = mint(1_700_000_000_000, MAX_NODE_ID, 1);
        let next_to_top = mint(1_700_000_000_000, MAX_NODE_ID - (1 << 16), 1);
        assert_ne!(top, next_to_top, "every node bit reaches the id");
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(parse(&a.to_string()), Some(a));
    }

    #[test]
    fn ids_order_by_time() {
        assert!(mint(1_000, 1, 99) < mint(2_000, 1, 0));
    }
}
