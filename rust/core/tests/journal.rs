//! Idempotency, the journal and snapshots: replays have no second effect, and
//! restore + replay rebuilds exactly the live state.

mod common;

use common::{assert_reason, reserve, World, T0, TENANT};
use holdfast_core::{
    Command, Config, Engine, Event, LineRequest, Meta, ReasonCode, Request, SnapshotError,
};

fn keyed(tenant: &str, key: &str, now: i64, command: Command) -> Request {
    Request {
        meta: Meta::new(tenant, key, "tester", now),
        command,
    }
}

#[test]
fn a_replay_returns_the_same_outcome_with_no_second_effect() {
    let mut world = World::with_stock("sku", "loc", 10);
    let request = keyed(TENANT, "k", T0, reserve(&[("sku", "loc", 4)], false));
    let first = world.engine.execute(&request);
    world.engine.drain_journal();
    let later = keyed(
        TENANT,
        "k",
        T0 + 5_000,
        reserve(&[("sku", "loc", 4)], false),
    );
    let again = world.engine.execute(&later);
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.result, first.result);
    assert_eq!(again.decided_at, first.decided_at);
    assert_eq!(again.reason, ReasonCode::RESERVED);
    assert_eq!(world.available("sku", "loc"), 6);
    assert_eq!(world.engine.journal_len(), 0, "a replay writes nothing");
}

#[test]
fn a_stored_rejection_is_replayed_even_after_stock_arrives() {
    let mut world = World::with_stock("sku", "loc", 1);
    let request = keyed(TENANT, "k", T0, reserve(&[("sku", "loc", 4)], false));
    let first = world.engine.execute(&request);
    assert_reason(&first, ReasonCode::INSUFFICIENT_STOCK);
    world.stock("sku", "loc", 100);
    let again = world.engine.execute(&request);
    assert!(again.replayed);
    assert_eq!(again.result, first.result);
}

#[test]
fn keys_belong_to_their_tenant() {
    let mut world = World::with_stock("sku", "loc", 10);
    let a = world
        .engine
        .execute(&keyed("a", "k", T0, reserve(&[("sku", "loc", 1)], false)));
    let b = world
        .engine
        .execute(&keyed("b", "k", T0, reserve(&[("sku", "loc", 2)], false)));
    assert!(!a.replayed && !b.replayed);
    assert_ne!(a.result, b.result);
    assert_eq!(world.available("sku", "loc"), 7);
}

#[test]
fn keys_expire_after_the_retention_and_are_purged_deliberately() {
    let config = Config {
        idempotency_retention_ms: 1_000,
        ..Config::default()
    };
    let mut engine = Engine::new(config);
    let count = |key: &str, now, sequence| {
        keyed(
            "wms",
            key,
            now,
            Command::SetStock {
                sku: "sku".into(),
                location: "loc".into(),
                on_hand: 10,
                source_sequence: sequence,
                as_of: Some(T0),
            },
        )
    };
    assert!(!engine.execute(&count("k", T0, 1)).replayed);
    assert!(engine.execute(&count("k", T0 + 999, 1)).replayed);
    // Past the retention the key is free: this is a new request (and stale).
    let outcome = engine.execute(&count("k", T0 + 1_000, 1));
    assert!(!outcome.replayed);
    assert_reason(&outcome, ReasonCode::STALE_UPDATE);
    assert_eq!(engine.idempotency_key_count(), 1);
    engine.drain_journal();
    assert_eq!(
        engine.purge_idempotency(T0 + 1_500),
        0,
        "decided at T0+1000"
    );
    assert_eq!(engine.purge_idempotency(T0 + 2_001), 1);
    assert_eq!(engine.idempotency_key_count(), 0);
    let events = engine.drain_journal();
    assert_eq!(events.len(), 1, "the purge is journaled");
}

/// A deterministic mix of every operation, driven by a tiny LCG.
fn workload(engine: &mut Engine, steps: usize, seed: u64, start: i64) -> i64 {
    let mut state = seed;
    let mut next = move |bound: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % bound
    };
    let skus = ["a", "b", "c"];
    let locations = ["north", "south"];
    let mut ids: Vec<String> = Vec::new();
    let mut now = start;
    for step in 0..steps {
        now += next(3_000) as i64;
        let sku = skus[next(3) as usize];
        let location = locations[next(2) as usize];
        let id = if ids.is_empty() {
            "01890000-0000-7000-8000-000000000000".to_owned()
        } else {
            // Mostly recent reservations, so that their holds are still open.
            let back = next(ids.len().min(4) as u64) as usize;
            ids[ids.len() - 1 - back].clone()
        };
        let lines = if next(2) == 0 {
            vec![]
        } else {
            vec![LineRequest::new(sku, location, 1 + next(3))]
        };
        // Half the time, take the reservation one step further along its life.
        let natural = engine
            .reservation(TENANT, &id)
            .ok()
            .and_then(|view| match view.state {
                holdfast_core::LineState::Reserved => Some(6),
                holdfast_core::LineState::Allocated => Some(8),
                holdfast_core::LineState::Picked => Some(9),
                holdfast_core::LineState::Shipped => Some(10),
                _ => None,
            });
        let kind = match natural {
            Some(kind) if next(2) == 0 => kind,
            _ => next(12),
        };
        let command = match kind {
            0 | 1 => Command::SetStock {
                sku: sku.into(),
                location: location.into(),
                on_hand: 10 + next(30),
                source_sequence: step as u64 + next(2),
                as_of: Some(now),
            },
            2 => Command::AdjustStock {
                sku: sku.into(),
                location: location.into(),
                delta: next(10) as i64 - 4,
                adjustment_reason: "cycle count".into(),
            },
            3..=5 => Command::Reserve {
                order_ref: format!("order-{step}"),
                channel: "web".into(),
                lines: vec![
                    LineRequest::new(sku, location, 1 + next(4)),
                    LineRequest::new(skus[next(3) as usize], "", 1 + next(2)),
                ],
                hold_seconds: 30,
                allow_partial: next(2) == 0,
                destination_region: String::new(),
            },
            6 => Command::Allocate {
                reservation_id: id,
                lines,
                ship_by: String::new(),
            },
            7 => Command::Release {
                reservation_id: id,
                note: "changed my mind".into(),
            },
            8 => Command::ConfirmPick {
                reservation_id: id,
                lines,
                as_of: Some(now),
            },
            9 => Command::ConfirmShipment {
                reservation_id: id,
                lines,
                as_of: Some(now),
            },
            10 => Command::RecordReturn {
                reservation_id: id,
                lines,
                restock: next(2) == 0,
                as_of: Some(now),
            },
            _ => Command::RenewHold {
                reservation_id: id,
                hold_seconds: 60,
            },
        };
        // Now and then, repeat an earlier key (a client retry).
        let key = if step > 0 && next(8) == 0 {
            format!("key-{}", next(step as u64))
        } else {
            format!("key-{step}")
        };
        let outcome = engine.execute(&keyed(TENANT, &key, now, command));
        if let Ok(holdfast_core::Target::Reservation(id)) = outcome.result {
            ids.push(id.to_string());
        }
        if step % 97 == 0 {
            engine.expire_due(now);
        }
    }
    now
}

#[test]
fn replaying_the_journal_rebuilds_the_live_state_exactly() {
    let mut live = Engine::new(Config::default());
    let mid = workload(&mut live, 1_500, 7, T0);
    let snapshot = live.snapshot();
    let first_half = live.drain_journal();
    workload(&mut live, 1_500, 11, mid);
    let second_half = live.drain_journal();
    let expected = live.snapshot();
    // The workload did real work, not just rejections.
    let kinds: std::collections::BTreeSet<&str> = first_half
        .iter()
        .chain(&second_half)
        .map(|event| event.reason.name())
        .collect();
    for reason in [
        "RESERVED",
        "PARTIALLY_RESERVED",
        "ALLOCATED",
        "RELEASED",
        "PICKED",
        "SHIPPED",
        "RETURNED",
        "HOLD_RENEWED",
        "HOLD_EXPIRED",
        "OVERCOMMITTED",
        "STALE_UPDATE",
    ] {
        assert!(
            kinds.contains(reason),
            "the workload never produced {reason}: {kinds:?}"
        );
    }

    let mut from_scratch = Engine::new(Config::default());
    from_scratch.replay(&first_half).unwrap();
    from_scratch.replay(&second_half).unwrap();
    assert_eq!(from_scratch.snapshot(), expected);

    let mut restored = Engine::restore(Config::default(), &snapshot).unwrap();
    restored.replay(&second_half).unwrap();
    assert_eq!(restored.snapshot(), expected);
    restored.check_invariants().unwrap();

    // The restored engine decides on exactly as the live one does.
    let mut live_next = Engine::restore(Config::default(), &expected).unwrap();
    let end = workload(&mut restored, 200, 13, T0 + 100_000_000);
    workload(&mut live_next, 200, 13, T0 + 100_000_000);
    assert_eq!(restored.snapshot(), live_next.snapshot());
    assert!(end > T0);
}

#[test]
fn events_round_trip_and_replay_refuses_gaps() {
    let mut world = World::with_stock("sku", "loc", 10);
    world.reserve_id(&[("sku", "loc", 1)]);
    let events = world.engine.drain_journal();
    for event in &events {
        assert_eq!(&Event::decode(&event.encode()).unwrap(), event);
        assert!(event.to_json().contains("\"seq\""));
    }
    let mut engine = Engine::new(Config::default());
    assert_eq!(
        engine.replay(&events[1..]),
        Err(SnapshotError::OutOfSequence {
            expected: 1,
            found: 2
        })
    );
}

#[test]
fn a_corrupt_snapshot_is_refused() {
    let world = World::with_stock("sku", "loc", 10);
    let mut bytes = world.engine.snapshot();
    bytes.truncate(bytes.len() / 2);
    assert!(matches!(
        Engine::restore(Config::default(), &bytes),
        Err(SnapshotError::Corrupt(_))
    ));
}

#[test]
fn a_retry_without_as_of_replays_and_warehouse_facts_keep_their_time() {
    let mut world = World::with_stock("sku", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 2)]);
    world.act("allocate", &id);
    let pick = |now| {
        keyed(
            TENANT,
            "pick-1",
            now,
            Command::ConfirmPick {
                reservation_id: id.clone(),
                lines: vec![],
                as_of: None,
            },
        )
    };
    let first = world.engine.execute(&pick(T0 + 1_000));
    assert_reason(&first, ReasonCode::PICKED);
    let retry = world.engine.execute(&pick(T0 + 2_000));
    assert!(retry.replayed, "{retry:?}");
    let p = world.position("sku", "loc");
    assert_eq!(
        (p.as_of, p.received_at),
        (Some(T0 + 1_000), Some(T0 + 1_000))
    );

    let ship = keyed(
        TENANT,
        "ship-1",
        T0 + 5_000,
        Command::ConfirmShipment {
            reservation_id: id.clone(),
            lines: vec![],
            as_of: Some(T0 + 4_000),
        },
    );
    assert_reason(&world.engine.execute(&ship), ReasonCode::SHIPPED);
    let p = world.position("sku", "loc");
    assert_eq!(
        (p.as_of, p.received_at),
        (Some(T0 + 4_000), Some(T0 + 5_000))
    );
}

#[test]
fn events_say_what_they_are_about() {
    let mut world = World::with_stock("sku", "loc", 10);
    world.stock("other", "loc", 10);
    let id = world.reserve_id(&[("sku", "loc", 1), ("other", "loc", 1), ("sku", "loc", 1)]);
    world.act("release", &id);
    let events = world.engine.drain_journal();
    let summary: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.kind(),
                e.reservation_id().map(|id| id.to_string()),
                e.skus(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("stock_counted", None, vec!["sku"]),
            ("stock_counted", None, vec!["other"]),
            ("hold_placed", Some(id.clone()), vec!["sku", "other"]),
            ("lines_moved", Some(id.clone()), vec!["sku", "other"]),
        ]
    );
}
