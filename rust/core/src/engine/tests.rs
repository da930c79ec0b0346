//! Tests that reach inside the engine: states the public API cannot build.

use super::*;
use crate::command::{LineRequest, Meta};
use crate::state::Bucket;

fn request(key: &str, command: Command) -> Request {
    Request {
        meta: Meta::new("shop", key, "tester", 1_000),
        command,
    }
}

fn stocked() -> (Engine, String) {
    let mut engine = Engine::new(Config::default());
    engine.execute(&request(
        "count",
        Command::SetStock {
            sku: "sku".into(),
            location: "loc".into(),
            on_hand: 10,
            source_sequence: 1,
            as_of: Some(0),
        },
    ));
    let outcome = engine.execute(&request(
        "hold",
        Command::Reserve {
            order_ref: String::new(),
            channel: String::new(),
            lines: vec![LineRequest::new("sku", "loc", 2)],
            hold_seconds: 0,
            allow_partial: false,
            destination_region: String::new(),
        },
    ));
    let Ok(Target::Reservation(id)) = outcome.result else {
        panic!("{outcome:?}")
    };
    (engine, id.to_string())
}

#[test]
fn restocking_past_the_largest_count_is_refused_not_wrapped() {
    let (mut engine, id) = stocked();
    for (key, command) in [
        (
            "allocate",
            Command::Allocate {
                reservation_id: id.clone(),
                lines: vec![],
                ship_by: String::new(),
            },
        ),
        (
            "pick",
            Command::ConfirmPick {
                reservation_id: id.clone(),
                lines: vec![],
                as_of: Some(0),
            },
        ),
        (
            "ship",
            Command::ConfirmShipment {
                reservation_id: id.clone(),
                lines: vec![],
                as_of: Some(0),
            },
        ),
    ] {
        assert!(engine.execute(&request(key, command)).is_accepted());
    }
    engine.positions[0].on_hand = u64::MAX - 1;
    let outcome = engine.execute(&request(
        "return",
        Command::RecordReturn {
            reservation_id: id,
            lines: vec![],
            restock: true,
            as_of: Some(0),
        },
    ));
    assert_eq!(outcome.reason, ReasonCode::QUANTITY_OVERFLOW);
    assert_eq!(engine.positions[0].on_hand, u64::MAX - 1);
}

#[test]
fn invariant_checks_catch_a_corrupted_bucket() {
    let (mut engine, _) = stocked();
    assert_eq!(engine.check_invariants(), Ok(()));
    engine.positions[0].reserved += 1;
    let violation = engine.check_invariants().unwrap_err();
    assert!(
        violation.contains("reserved is 3 but its lines hold 2"),
        "{violation}"
    );
}

#[test]
fn invariant_checks_catch_a_hidden_overcommitment() {
    let (mut engine, _) = stocked();
    engine.positions[0].on_hand = 1;
    let violation = engine.check_invariants().unwrap_err();
    assert!(violation.contains("available -1"), "{violation}");
}

#[test]
fn stale_heap_entries_are_skipped() {
    let (mut engine, id) = stocked();
    let renew = |key: &str, hold_seconds| {
        request(
            key,
            Command::RenewHold {
                reservation_id: id.clone(),
                hold_seconds,
            },
        )
    };
    assert!(engine.execute(&renew("renew", 5_000)).is_accepted());
    // The first due time passes: the hold was renewed, so nothing expires.
    assert!(engine.expire_due(1_000 + 900_000).is_empty());
    assert_eq!(engine.expire_due(1_000 + 5_000_000).len(), 1);
    assert!(engine.expiry.is_empty());
    assert_eq!(engine.take_expired_count(), 1);
    assert_eq!(engine.take_expired_count(), 0, "taking the count resets it");
}

#[test]
fn expiries_swept_by_a_request_are_counted() {
    let (mut engine, _) = stocked();
    // A later request sweeps the due hold before deciding.
    let later = Request {
        meta: Meta::new("shop", "count-2", "tester", 1_000 + 900_000),
        command: Command::SetStock {
            sku: "sku".into(),
            location: "loc".into(),
            on_hand: 10,
            source_sequence: 2,
            as_of: None,
        },
    };
    assert!(engine.execute(&later).is_accepted());
    assert_eq!(engine.take_expired_count(), 1);
}

#[test]
fn the_audit_reports_every_drifted_bucket_and_repairs_none() {
    let (mut engine, _) = stocked();
    assert!(engine.audit().is_empty());
    let sku = engine.symbols.name(engine.positions[0].sku).to_string();
    let location = engine
        .symbols
        .name(engine.positions[0].location)
        .to_string();
    assert!(engine.inject_bucket_drift(&sku, &location, Bucket::Reserved, 1));
    assert!(engine.inject_bucket_drift(&sku, &location, Bucket::Picked, 4));
    assert!(!engine.inject_bucket_drift(&sku, &location, Bucket::Allocated, -1));
    assert!(!engine.inject_bucket_drift("no-such-sku", &location, Bucket::Reserved, 1));
    let differences = engine.audit();
    let found: Vec<_> = differences
        .iter()
        .map(|d| (d.bucket, d.stored, d.from_lines))
        .collect();
    assert_eq!(found, vec![("reserved", 3, 2), ("picked", 4, 0)]);
    // Reported, not repaired: the audit changes nothing.
    assert_eq!(engine.audit(), differences);
    assert_eq!(engine.positions[0].reserved, 3);
}

#[test]
fn only_a_request_that_would_be_decided_anew_needs_its_dependencies() {
    let (engine, _) = stocked();
    let hold = |key: &str, now: i64, quantity: u64| Request {
        meta: Meta::new("shop", key, "tester", now),
        command: Command::Reserve {
            order_ref: String::new(),
            channel: String::new(),
            lines: vec![LineRequest::new("sku", "loc", quantity)],
            hold_seconds: 0,
            allow_partial: false,
            destination_region: String::new(),
        },
    };
    // A fresh key is decided.
    assert!(engine.would_decide(&hold("fresh", 1_000, 2)));
    // A live key is answered from its record: replayed, or refused as reused.
    assert!(!engine.would_decide(&hold("hold", 1_000, 2)));
    assert!(!engine.would_decide(&hold("hold", 1_000, 3)));
    // Past its retention the key is forgotten, and decided anew.
    let retained = engine.config().idempotency_retention_ms;
    assert!(engine.would_decide(&hold("hold", 1_000 + retained, 2)));
    // Another tenant's key of the same name is theirs alone.
    let mut other = hold("hold", 1_000, 2);
    other.meta = Meta::new("other-shop", "hold", "tester", 1_000);
    assert!(engine.would_decide(&other));
    // A request its limits refuse is refused without asking anyone.
    assert!(!engine.would_decide(&hold("empty", 1_000, 0)));
}
