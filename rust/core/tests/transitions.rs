//! Every action from every reservation state, table-driven: the allowed ones
//! move exactly the units the table says between exactly the buckets it says;
//! the others are refused with the right reason and change nothing.

mod common;

use common::{assert_reason, World};
use holdfast_core::{LineState, ReasonCode};

/// Actions that lead from a fresh hold to each state.
fn path_to(state: LineState) -> &'static [&'static str] {
    match state {
        LineState::Reserved => &[],
        LineState::Allocated => &["allocate"],
        LineState::Picked => &["allocate", "pick"],
        LineState::Shipped => &["allocate", "pick", "ship"],
        LineState::Returned => &["allocate", "pick", "ship", "return"],
        LineState::Released => &["release"],
        LineState::Expired => &[],
    }
}

/// (on_hand, reserved, allocated, picked) for a 10-unit stock and a 3-unit line.
fn buckets(state: LineState, restocked: bool) -> (u64, u64, u64, u64) {
    match state {
        LineState::Reserved => (10, 3, 0, 0),
        LineState::Allocated => (10, 0, 3, 0),
        LineState::Picked => (10, 0, 0, 3),
        LineState::Shipped => (7, 0, 0, 0),
        LineState::Returned if restocked => (10, 0, 0, 0),
        LineState::Returned => (7, 0, 0, 0),
        LineState::Released | LineState::Expired => (10, 0, 0, 0),
    }
}

fn in_state(state: LineState) -> (World, String) {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 3)]);
    for action in path_to(state) {
        let outcome = world.act(action, &id);
        assert!(outcome.is_accepted(), "{action}: {outcome:?}");
    }
    if state == LineState::Expired {
        world.now += 60_000;
        assert_eq!(world.engine.expire_due(world.now).len(), 1);
    }
    let view = world.engine.reservation(common::TENANT, &id).unwrap();
    assert_eq!(view.state, state);
    (world, id)
}

fn observed(world: &World) -> (u64, u64, u64, u64) {
    let p = world.position("sku", "loc");
    (p.on_hand, p.reserved, p.allocated, p.picked)
}

#[test]
fn every_action_from_every_state() {
    // (action, from, to, reason when accepted)
    let table: &[(&str, LineState, LineState, ReasonCode)] = &[
        (
            "allocate",
            LineState::Reserved,
            LineState::Allocated,
            ReasonCode::ALLOCATED,
        ),
        (
            "release",
            LineState::Reserved,
            LineState::Released,
            ReasonCode::RELEASED,
        ),
        (
            "release",
            LineState::Allocated,
            LineState::Released,
            ReasonCode::RELEASED,
        ),
        (
            "renew",
            LineState::Reserved,
            LineState::Reserved,
            ReasonCode::HOLD_RENEWED,
        ),
        (
            "pick",
            LineState::Allocated,
            LineState::Picked,
            ReasonCode::PICKED,
        ),
        (
            "unpick",
            LineState::Picked,
            LineState::Allocated,
            ReasonCode::UNPICKED,
        ),
        (
            "ship",
            LineState::Picked,
            LineState::Shipped,
            ReasonCode::SHIPPED,
        ),
        (
            "return",
            LineState::Shipped,
            LineState::Returned,
            ReasonCode::RETURNED,
        ),
        (
            "return-damaged",
            LineState::Shipped,
            LineState::Returned,
            ReasonCode::RETURNED,
        ),
    ];
    let actions = [
        "allocate",
        "release",
        "renew",
        "pick",
        "unpick",
        "ship",
        "return",
        "return-damaged",
    ];
    for from in LineState::ALL {
        for action in actions {
            let (mut world, id) = in_state(from);
            let before = observed(&world);
            let outcome = world.act(action, &id);
            let owner = if matches!(action, "allocate" | "release" | "renew") {
                holdfast_core::Owner::Holdfast
            } else {
                holdfast_core::Owner::Warehouse
            };
            assert_eq!(outcome.owner, owner, "{action}");
            let state = world.engine.reservation(common::TENANT, &id).unwrap().state;
            match table.iter().find(|(a, f, _, _)| *a == action && *f == from) {
                Some((_, _, to, reason)) => {
                    assert_reason(&outcome, *reason);
                    assert_eq!(state, *to, "{action} from {from}");
                    let restocked = action == "return";
                    assert_eq!(
                        observed(&world),
                        buckets(*to, restocked),
                        "{action} from {from}"
                    );
                }
                None => {
                    let expected = if from == LineState::Expired {
                        ReasonCode::RESERVATION_EXPIRED
                    } else {
                        ReasonCode::INVALID_TRANSITION
                    };
                    assert_reason(&outcome, expected);
                    assert_eq!(state, from, "{action} from {from} changed the state");
                    assert_eq!(observed(&world), before, "{action} from {from} moved stock");
                }
            }
        }
    }
}

#[test]
fn every_transition_is_in_the_history() {
    let (world, id) = in_state(LineState::Returned);
    let view = world.engine.reservation(common::TENANT, &id).unwrap();
    let steps: Vec<_> = view
        .history
        .iter()
        .map(|h| (h.action.name(), h.from, h.to, h.reason))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("reserve", None, LineState::Reserved, ReasonCode::RESERVED),
            (
                "allocate",
                Some(LineState::Reserved),
                LineState::Allocated,
                ReasonCode::ALLOCATED
            ),
            (
                "pick",
                Some(LineState::Allocated),
                LineState::Picked,
                ReasonCode::PICKED
            ),
            (
                "ship",
                Some(LineState::Picked),
                LineState::Shipped,
                ReasonCode::SHIPPED
            ),
            (
                "return",
                Some(LineState::Shipped),
                LineState::Returned,
                ReasonCode::RETURNED
            ),
        ]
    );
    for (i, entry) in view.history.iter().enumerate() {
        assert_eq!(&*entry.actor, "tester");
        assert_eq!(&*entry.rule_version, "builtin-1");
        assert_eq!(
            entry.idempotency_key.as_deref(),
            Some(format!("key-{}", i + 2).as_str())
        );
    }
}

#[test]
fn expiry_is_recorded_with_the_system_actor_at_the_due_time() {
    let (world, id) = in_state(LineState::Expired);
    let view = world.engine.reservation(common::TENANT, &id).unwrap();
    let last = view.history.last().unwrap();
    assert_eq!(last.reason, ReasonCode::HOLD_EXPIRED);
    assert_eq!(&*last.actor, holdfast_core::SYSTEM_ACTOR);
    assert_eq!(last.at, view.expires_at);
    assert_eq!(last.idempotency_key, None);
}

#[test]
fn partial_moves_split_lines() {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 5)]);
    assert_reason(&world.act("allocate", &id), ReasonCode::ALLOCATED);
    assert_reason(
        &world.act_lines("pick", &id, &[("sku", "loc", 2)]),
        ReasonCode::PICKED,
    );
    assert_eq!(observed(&world), (10, 0, 3, 2));
    assert_reason(
        &world.act_lines("ship", &id, &[("sku", "", 1)]),
        ReasonCode::SHIPPED,
    );
    assert_eq!(observed(&world), (9, 0, 3, 1));
    let view = world.engine.reservation(common::TENANT, &id).unwrap();
    let lines: Vec<_> = view.lines.iter().map(|l| (l.quantity, l.state)).collect();
    assert_eq!(
        lines,
        vec![
            (3, LineState::Allocated),
            (1, LineState::Picked),
            (1, LineState::Shipped)
        ]
    );
    // The reservation waits on its least advanced line.
    assert_eq!(view.state, LineState::Allocated);
    // Release gives back what is not in anyone's hands; picked goods stay.
    assert_reason(&world.act("release", &id), ReasonCode::RELEASED);
    assert_eq!(observed(&world), (9, 0, 0, 1));
}

#[test]
fn allocating_less_than_held_releases_the_rest() {
    let mut world = World::with_stock("sku", "loc", 10);
    world.stock("other", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 4), ("other", "loc", 2)]);
    assert_eq!(world.available("sku", "loc"), 6);
    let outcome = world.act_lines("allocate", &id, &[("sku", "loc", 3)]);
    assert_reason(&outcome, ReasonCode::ALLOCATED);
    let p = world.position("sku", "loc");
    assert_eq!((p.reserved, p.allocated, p.available), (0, 3, 7));
    let other = world.position("other", "loc");
    assert_eq!((other.reserved, other.available), (0, 10));
}

#[test]
fn asking_for_more_than_the_reservation_has_is_refused() {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 2)]);
    let outcome = world.act_lines("allocate", &id, &[("sku", "loc", 3)]);
    assert_reason(&outcome, ReasonCode::QUANTITY_EXCEEDS_RESERVATION);
    let outcome = world.act_lines("allocate", &id, &[("absent", "loc", 1)]);
    assert_reason(&outcome, ReasonCode::QUANTITY_EXCEEDS_RESERVATION);
    assert_eq!(observed(&world), (10, 2, 0, 0));
}
