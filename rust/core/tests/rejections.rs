//! Every rejection reason, the facts it carries, and that it changed nothing.

mod common;

use common::{assert_reason, reserve, World, TENANT};
use holdfast_core::{Command, LineRequest, Meta, ReasonCode, Rejection, Request};

fn invalid_field(outcome: &holdfast_core::Outcome) -> String {
    match &outcome.result {
        Err(Rejection::InvalidArgument { field, .. }) => field.clone(),
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

#[test]
fn malformed_requests_name_the_field_and_store_nothing() {
    let long = "x".repeat(129);
    let cases: Vec<(Command, &str)> = vec![
        (reserve(&[], false), "lines"),
        (reserve(&[("sku", "loc", 0)], false), "lines[0].quantity"),
        (
            reserve(&[("sku", "loc", 1), ("", "loc", 1)], false),
            "lines[1].sku",
        ),
        (
            reserve(&[("sku", "loc", 1_000_000_001)], false),
            "lines[0].quantity",
        ),
        (reserve(&[("sku", &long, 1)], false), "lines[0].location"),
        (
            Command::Reserve {
                order_ref: "o".into(),
                channel: "web".into(),
                lines: vec![LineRequest::new("sku", "loc", 1)],
                hold_seconds: -1,
                allow_partial: false,
                destination_region: String::new(),
            },
            "hold_seconds",
        ),
        (
            Command::Reserve {
                order_ref: "o".into(),
                channel: "web\n".into(),
                lines: vec![LineRequest::new("sku", "loc", 1)],
                hold_seconds: 0,
                allow_partial: false,
                destination_region: String::new(),
            },
            "channel",
        ),
        (
            Command::Release {
                reservation_id: "not-a-uuid".into(),
                note: String::new(),
            },
            "reservation_id",
        ),
        (
            Command::SetStock {
                sku: "sku".into(),
                location: "loc".into(),
                on_hand: 1_000_000_000_001,
                source_sequence: 1,
                as_of: Some(0),
            },
            "on_hand",
        ),
        (
            Command::SetStock {
                sku: "sku".into(),
                location: "loc".into(),
                on_hand: 1,
                source_sequence: 1,
                as_of: Some(-5),
            },
            "as_of",
        ),
        (
            Command::AdjustStock {
                sku: "sku".into(),
                location: "loc".into(),
                delta: 0,
                adjustment_reason: "cycle count".into(),
            },
            "delta",
        ),
        (
            Command::AdjustStock {
                sku: "sku".into(),
                location: "loc".into(),
                delta: 1,
                adjustment_reason: String::new(),
            },
            "adjustment_reason",
        ),
    ];
    for (command, field) in cases {
        let mut world = World::with_stock("sku", "loc", 10);
        let before = world.engine.snapshot();
        let request = Request {
            meta: Meta::new(TENANT, "same-key", "tester", world.now),
            command,
        };
        let outcome = world.engine.execute(&request);
        assert_reason(&outcome, ReasonCode::INVALID_ARGUMENT);
        assert_eq!(invalid_field(&outcome), field);
        assert_eq!(world.engine.snapshot(), before, "{field}: state changed");
        // Nothing was stored: the key is still free for a valid request.
        let valid = Request {
            meta: Meta::new(TENANT, "same-key", "tester", world.now),
            command: reserve(&[("sku", "loc", 1)], false),
        };
        assert_reason(&world.engine.execute(&valid), ReasonCode::RESERVED);
    }
}

#[test]
fn malformed_meta_names_the_field() {
    let mut world = World::with_stock("sku", "loc", 10);
    let cases = [
        (Meta::new("", "k", "a", world.now), "tenant"),
        (Meta::new("t", "", "a", world.now), "idempotency_key"),
        (Meta::new("t", "k", "", world.now), "actor"),
        (Meta::new("t", "k", "a", -1), "now"),
    ];
    for (meta, field) in cases {
        let request = Request {
            meta,
            command: reserve(&[("sku", "loc", 1)], false),
        };
        assert_eq!(invalid_field(&world.engine.execute(&request)), field);
    }
}

#[test]
fn unknown_sku_and_location() {
    let mut world = World::with_stock("sku", "loc", 10);
    let outcome = world.reserve(&[("nope", "loc", 1)]);
    assert_reason(&outcome, ReasonCode::UNKNOWN_SKU);
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::UnknownSku { sku: "nope".into() }
    );
    let outcome = world.reserve(&[("sku", "mars", 1)]);
    assert_reason(&outcome, ReasonCode::UNKNOWN_LOCATION);
    // Both known, but never stocked together: simply nothing available.
    world.stock("other", "far", 5);
    let outcome = world.reserve(&[("sku", "far", 1)]);
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::InsufficientStock {
            sku: "sku".into(),
            location: "far".into(),
            requested: 1,
            available: 0
        }
    );
}

#[test]
fn shortfall_reports_what_was_available_and_holds_nothing() {
    let mut world = World::with_stock("sku", "loc", 10);
    world.stock("other", "loc", 10);
    // The same SKU on two lines is guarded as one total.
    let outcome = world.reserve(&[("other", "loc", 1), ("sku", "loc", 6), ("sku", "loc", 5)]);
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::InsufficientStock {
            sku: "sku".into(),
            location: "loc".into(),
            requested: 11,
            available: 10
        }
    );
    assert_eq!(world.available("sku", "loc"), 10);
    assert_eq!(world.available("other", "loc"), 10, "all or nothing");
}

#[test]
fn partial_reservation_holds_what_there_is() {
    let mut world = World::with_stock("sku", "loc", 4);
    world.stock("other", "loc", 10);
    let outcome = world.run(reserve(
        &[("sku", "loc", 3), ("sku", "loc", 3), ("other", "loc", 2)],
        true,
    ));
    assert_reason(&outcome, ReasonCode::PARTIALLY_RESERVED);
    let id = common::id_of(&outcome);
    let view = world.engine.reservation(TENANT, &id).unwrap();
    let quantities: Vec<u64> = view.lines.iter().map(|l| l.quantity).collect();
    assert_eq!(quantities, vec![3, 1, 2]);
    assert_eq!(world.available("sku", "loc"), 0);
    // Nothing at all available is still a rejection, even when partial is allowed.
    let outcome = world.run(reserve(&[("sku", "loc", 1)], true));
    assert_reason(&outcome, ReasonCode::INSUFFICIENT_STOCK);
}

#[test]
fn an_empty_location_takes_the_position_with_most_available() {
    let mut world = World::with_stock("sku", "north", 5);
    world.stock("sku", "south", 8);
    let id = world.reserve_id(&[("sku", "", 6)]);
    let view = world.engine.reservation(TENANT, &id).unwrap();
    assert_eq!(&*view.lines[0].location, "south");
    // The request's own lines count: 2 left in the south, 5 in the north.
    let id = world.reserve_id(&[("sku", "", 1), ("sku", "", 4)]);
    let view = world.engine.reservation(TENANT, &id).unwrap();
    assert!(view.lines.iter().all(|l| &*l.location == "north"));
    let outcome = world.reserve(&[("sku", "", 3)]);
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::InsufficientStock {
            sku: "sku".into(),
            location: "south".into(),
            requested: 3,
            available: 2
        }
    );
}

#[test]
fn another_tenants_reservation_is_not_found() {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 1)]);
    let request = Request {
        meta: Meta::new("someone-else", "k", "intruder", world.now),
        command: common::line_command("release", &id, Vec::new()),
    };
    let outcome = world.engine.execute(&request);
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::ReservationNotFound {
            reservation_id: id.clone()
        }
    );
    assert!(world.engine.reservation("someone-else", &id).is_err());
    assert_eq!(world.available("sku", "loc"), 9);
    let unknown = "01890000-0000-7000-8000-000000000000";
    assert_reason(
        &world.act("release", unknown),
        ReasonCode::RESERVATION_NOT_FOUND,
    );
}

#[test]
fn stale_and_overcommitting_warehouse_facts() {
    let mut world = World::new();
    let count = |on_hand, source_sequence| Command::SetStock {
        sku: "sku".into(),
        location: "loc".into(),
        on_hand,
        source_sequence,
        as_of: Some(common::T0),
    };
    assert_reason(&world.run(count(10, 5)), ReasonCode::STOCK_SET);
    let outcome = world.run(count(3, 5));
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::StaleUpdate {
            sku: "sku".into(),
            location: "loc".into(),
            source_sequence: 5,
            applied_sequence: 5
        }
    );
    assert_reason(&world.run(count(3, 4)), ReasonCode::STALE_UPDATE);
    assert_eq!(world.position("sku", "loc").on_hand, 10);

    world.reserve_id(&[("sku", "loc", 8)]);
    let outcome = world.run(count(6, 6));
    assert_reason(&outcome, ReasonCode::OVERCOMMITTED);
    let p = world.position("sku", "loc");
    assert_eq!(
        (p.on_hand, p.reserved, p.available),
        (6, 8, -2),
        "applied, not clamped"
    );
    assert_eq!(p.overcommitted_since, Some(world.now));
    assert_eq!(world.engine.overcommitted().len(), 1);
    // Nothing more can be promised while it is open.
    assert_reason(
        &world.reserve(&[("sku", "loc", 1)]),
        ReasonCode::INSUFFICIENT_STOCK,
    );
    // A receipt closes the exception.
    let outcome = world.run(Command::AdjustStock {
        sku: "sku".into(),
        location: "loc".into(),
        delta: 2,
        adjustment_reason: "receipt".into(),
    });
    assert_reason(&outcome, ReasonCode::STOCK_ADJUSTED);
    assert!(world.engine.overcommitted().is_empty());
}

#[test]
fn adjustments_cannot_take_on_hand_below_zero() {
    let mut world = World::with_stock("sku", "loc", 2);
    let outcome = world.run(Command::AdjustStock {
        sku: "sku".into(),
        location: "loc".into(),
        delta: -3,
        adjustment_reason: "damaged".into(),
    });
    assert_eq!(
        outcome.result.unwrap_err(),
        Rejection::InsufficientOnHand {
            sku: "sku".into(),
            location: "loc".into(),
            on_hand: 2,
            delta: -3
        }
    );
}

#[test]
fn shipping_more_than_is_counted_on_hand_is_refused() {
    let mut world = World::with_stock("sku", "loc", 5);
    let id = world.reserve_id(&[("sku", "loc", 5)]);
    world.act("allocate", &id);
    world.act("pick", &id);
    // The warehouse now counts fewer than it picked: an open exception...
    world.run(Command::SetStock {
        sku: "sku".into(),
        location: "loc".into(),
        on_hand: 2,
        source_sequence: 100,
        as_of: Some(common::T0),
    });
    // ...and shipping five from two is refused rather than wrapped or clamped.
    assert_reason(&world.act("ship", &id), ReasonCode::INSUFFICIENT_ON_HAND);
    assert_eq!(world.position("sku", "loc").picked, 5);
}

#[test]
fn a_reused_key_with_another_request_is_refused_and_not_stored() {
    let mut world = World::with_stock("sku", "loc", 10);
    let first = Request {
        meta: Meta::new(TENANT, "k", "tester", world.now),
        command: reserve(&[("sku", "loc", 1)], false),
    };
    let other = Request {
        meta: Meta::new(TENANT, "k", "tester", world.now),
        command: reserve(&[("sku", "loc", 2)], false),
    };
    let accepted = world.engine.execute(&first);
    assert_reason(
        &world.engine.execute(&other),
        ReasonCode::IDEMPOTENCY_KEY_REUSED,
    );
    // The original outcome is untouched.
    let again = world.engine.execute(&first);
    assert!(again.replayed);
    assert_eq!(again.result, accepted.result);
}

#[test]
fn an_expired_hold_says_so() {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 3)]);
    world.now += 60_000; // exactly at the due time: expired
    let outcome = world.act("allocate", &id);
    assert_reason(&outcome, ReasonCode::RESERVATION_EXPIRED);
    assert_eq!(world.available("sku", "loc"), 10);
}

#[test]
fn on_hand_stays_within_its_limit() {
    let mut world = World::with_stock("sku", "loc", holdfast_core::limits::MAX_ON_HAND);
    let outcome = world.run(Command::AdjustStock {
        sku: "sku".into(),
        location: "loc".into(),
        delta: 1,
        adjustment_reason: "receipt".into(),
    });
    assert_reason(&outcome, ReasonCode::QUANTITY_OVERFLOW);
    assert_eq!(
        world.position("sku", "loc").on_hand,
        holdfast_core::limits::MAX_ON_HAND
    );
}
