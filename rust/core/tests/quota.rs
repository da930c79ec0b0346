//! Tenant caps: a tenant may have at most so many holds open and so many
//! units held; a reserve past either is refused QUOTA_EXCEEDED with its facts.
//! Partial holds count what they hold; releasing, allocating and expiry give
//! quota back; the index survives restore and replay; a shared store's
//! proposals guard the tenant's holds and end where `execute` ends.

mod common;

use std::sync::Arc;

use common::{assert_reason, id_of, line_command, reserve, Rng, World, T0, TENANT};
use holdfast_core::engine::Object;
use holdfast_core::{
    Change, Command, Config, Engine, Event, LineRequest, Meta, Outcome, ReasonCode, Rejection,
    Request, Target,
};

fn capped(open_holds: Option<u64>, held_units: Option<u64>) -> Config {
    Config {
        tenant_max_open_holds: open_holds,
        tenant_max_held_units: held_units,
        ..Config::default()
    }
}

fn world(config: Config) -> World {
    let mut world = World::resume(Engine::new(config), &World::new());
    world.stock("MUG", "W1", 100);
    world.stock("CUP", "W1", 100);
    world
}

fn quota(outcome: &Outcome) -> (String, u64, u64, u64, String) {
    match &outcome.result {
        Err(Rejection::QuotaExceeded {
            tenant,
            limit,
            used,
            requested,
            quota,
        }) => (tenant.clone(), *limit, *used, *requested, quota.clone()),
        other => panic!("expected QUOTA_EXCEEDED, got {other:?}"),
    }
}

fn as_tenant(world: &mut World, tenant: &str, command: Command) -> Outcome {
    let key = world.next_key();
    let request = Request {
        meta: Meta::new(tenant, key, "tester", world.now),
        command,
    };
    world.engine.execute(&request)
}

#[test]
fn open_holds_are_capped_per_tenant() {
    let mut w = world(capped(Some(2), None));
    let first = w.reserve_id(&[("MUG", "W1", 1)]);
    w.reserve_id(&[("CUP", "W1", 1)]);
    assert_eq!(w.engine.tenant_holds(TENANT), (2, 2));

    let refused = w.run(reserve(&[("MUG", "W1", 1)], false));
    assert_reason(&refused, ReasonCode::QUOTA_EXCEEDED);
    assert_eq!(
        quota(&refused),
        (TENANT.to_owned(), 2, 2, 1, "open_holds".to_owned())
    );
    // Nothing was held for the refusal.
    assert_eq!(w.available("MUG", "W1"), 99);
    assert_eq!(w.engine.tenant_holds(TENANT), (2, 2));

    // Another tenant has a cap of its own.
    let other = as_tenant(&mut w, "other", reserve(&[("MUG", "W1", 1)], false));
    assert_reason(&other, ReasonCode::RESERVED);
    assert_eq!(w.engine.tenant_holds("other"), (1, 1));

    // Releasing a hold gives the quota back.
    assert_reason(&w.act("release", &first), ReasonCode::RELEASED);
    assert_eq!(w.engine.tenant_holds(TENANT), (1, 1));
    assert_reason(
        &w.run(reserve(&[("MUG", "W1", 1)], false)),
        ReasonCode::RESERVED,
    );
}

#[test]
fn held_units_are_capped_and_allocating_gives_them_back() {
    let mut w = world(capped(None, Some(10)));
    let first = w.reserve_id(&[("MUG", "W1", 6)]);
    let refused = w.run(reserve(&[("MUG", "W1", 2), ("CUP", "W1", 3)], false));
    assert_eq!(
        quota(&refused),
        (TENANT.to_owned(), 10, 6, 5, "held_units".to_owned())
    );
    // Exactly up to the cap is allowed.
    w.reserve_id(&[("CUP", "W1", 4)]);
    assert_eq!(w.engine.tenant_holds(TENANT), (2, 10));
    let refused = w.run(reserve(&[("CUP", "W1", 1)], false));
    assert_eq!(quota(&refused).2, 10);

    // Allocated units are an order, not a hold: allocating part of the first
    // hold (the rest is released) gives all six units back.
    let allocated = w.act_lines("allocate", &first, &[("MUG", "W1", 2)]);
    assert_reason(&allocated, ReasonCode::ALLOCATED);
    assert_eq!(w.engine.tenant_holds(TENANT), (1, 4));
    w.reserve_id(&[("MUG", "W1", 6)]);
    assert_eq!(w.engine.tenant_holds(TENANT), (2, 10));
}

#[test]
fn a_partial_hold_counts_what_it_holds() {
    let mut w = world(capped(None, Some(5)));
    w.stock("PEN", "W1", 3);
    w.stock("INK", "W1", 4);
    // Eight asked, three there: the hold of three fits the cap of five.
    let partial = w.run(reserve(&[("PEN", "W1", 8)], true));
    assert_reason(&partial, ReasonCode::PARTIALLY_RESERVED);
    assert_eq!(w.engine.tenant_holds(TENANT), (1, 3));
    // Eight asked, four there: three held plus four is past five.
    let refused = w.run(reserve(&[("INK", "W1", 8)], true));
    assert_eq!(
        quota(&refused),
        (TENANT.to_owned(), 5, 3, 4, "held_units".to_owned())
    );
    assert_eq!(w.available("INK", "W1"), 4);
    // Two fit.
    assert_reason(
        &w.run(reserve(&[("INK", "W1", 2)], true)),
        ReasonCode::RESERVED,
    );
}

#[test]
fn expiry_gives_the_quota_back() {
    let mut w = world(capped(Some(1), Some(3)));
    w.reserve_id(&[("MUG", "W1", 3)]);
    assert_reason(
        &w.run(reserve(&[("MUG", "W1", 1)], false)),
        ReasonCode::QUOTA_EXCEEDED,
    );
    w.now += 61_000; // past the 60 s hold
    assert_reason(
        &w.run(reserve(&[("MUG", "W1", 3)], false)),
        ReasonCode::RESERVED,
    );
    assert_eq!(w.engine.tenant_holds(TENANT), (1, 3));
}

#[test]
fn a_quota_refusal_is_a_decision_its_key_replays() {
    let mut w = world(capped(Some(1), None));
    w.reserve_id(&[("MUG", "W1", 1)]);
    let request = w.request(reserve(&[("MUG", "W1", 1)], false));
    let first = w.engine.execute(&request);
    assert_reason(&first, ReasonCode::QUOTA_EXCEEDED);
    let again = w.engine.execute(&request);
    assert!(again.replayed);
    assert_eq!(again.result, first.result);
    let journal = w.engine.drain_journal();
    assert!(matches!(
        journal.last().map(|e| &e.change),
        Some(Change::Rejected {
            rejection: Rejection::QuotaExceeded { .. }
        })
    ));
}

#[test]
fn no_cap_refuses_nothing() {
    let mut w = world(Config::default());
    for _ in 0..50 {
        w.reserve_id(&[("MUG", "W1", 1)]);
    }
    assert_eq!(w.engine.tenant_holds(TENANT), (50, 50));
}

#[test]
fn restore_and_replay_rebuild_the_index() {
    let config = capped(Some(3), Some(20));
    let mut w = world(config.clone());
    let events_start = w.engine.drain_journal();
    let a = w.reserve_id(&[("MUG", "W1", 5)]);
    let b = w.reserve_id(&[("CUP", "W1", 5), ("MUG", "W1", 2)]);
    as_tenant(&mut w, "other", reserve(&[("MUG", "W1", 4)], false));
    w.act_lines("allocate", &a, &[("MUG", "W1", 1)]);
    w.act("release", &b);
    w.reserve_id(&[("CUP", "W1", 7)]);
    let expected = (
        w.engine.tenant_holds(TENANT),
        w.engine.tenant_holds("other"),
    );
    assert_eq!(expected, ((1, 7), (1, 4)));

    let restored = Engine::restore(config.clone(), &w.engine.snapshot()).expect("restores");
    assert_eq!(
        (
            restored.tenant_holds(TENANT),
            restored.tenant_holds("other")
        ),
        expected
    );

    let mut replayed = Engine::new(config.clone());
    let mut events = events_start;
    events.extend(w.engine.drain_journal());
    replayed.replay(&events).expect("replays");
    assert_eq!(
        (
            replayed.tenant_holds(TENANT),
            replayed.tenant_holds("other")
        ),
        expected
    );

    // Both go on refusing alike.
    let mut restored = World::resume(restored, &w);
    let refused = restored.run(reserve(&[("MUG", "W1", 14)], false));
    assert_eq!(
        quota(&refused),
        (TENANT.to_owned(), 20, 7, 14, "held_units".to_owned())
    );
}

// ------------------------------------------------------ shared store (Redis)

fn tenant(name: &str) -> Object {
    Object::Tenant {
        tenant: Arc::from(name),
    }
}

fn request(tenant: &str, key: String, now: i64, command: Command) -> Request {
    Request {
        meta: Meta::new(tenant, key, "tester", now),
        command,
    }
}

fn stock(engine: &mut Engine, sku: &str, on_hand: u64, now: i64) {
    let command = Command::SetStock {
        sku: sku.into(),
        location: "W1".into(),
        on_hand,
        source_sequence: 1,
        as_of: None,
    };
    let outcome = engine.execute(&request("wms", format!("stock-{sku}"), now, command));
    assert!(outcome.is_accepted());
}

#[test]
fn plans_guard_the_tenants_holds_only_when_capped() {
    for cap in [None, Some(100)] {
        let mut engine = Engine::new(capped(cap, None));
        stock(&mut engine, "MUG", 10, T0);
        let reserve = request(TENANT, "r".into(), T0, reserve(&[("MUG", "W1", 2)], false));
        let (outcome, proposal) = engine.propose(&reserve, 1);
        let id = id_of(&outcome);
        let (event, plan) = proposal.expect("a new decision");
        assert_eq!(plan.unchanged.contains(&tenant(TENANT)), cap.is_some());
        // The count changes either way.
        assert!(plan.touched.contains(&tenant(TENANT)));
        let seq = engine.next_seq();
        engine.apply_committed(seq, event).unwrap();

        // A refusal read the tenant's holds too, when capped.
        let short = request(
            TENANT,
            "s".into(),
            T0,
            common::reserve(&[("MUG", "W1", 99)], false),
        );
        let (outcome, proposal) = engine.propose(&short, 2);
        assert_reason(&outcome, ReasonCode::INSUFFICIENT_STOCK);
        let (_, plan) = proposal.expect("a refusal is committed");
        assert_eq!(plan.unchanged.contains(&tenant(TENANT)), cap.is_some());
        assert!(plan.touched.is_empty());

        // Renewing changes no held units; releasing does.
        let renew = request(TENANT, "n".into(), T0, line_command("renew", &id, vec![]));
        let (_, proposal) = engine.propose(&renew, 2);
        assert!(!proposal.unwrap().1.touched.contains(&tenant(TENANT)));
        let release = request(TENANT, "l".into(), T0, line_command("release", &id, vec![]));
        let (_, proposal) = engine.propose(&release, 2);
        let plan = proposal.unwrap().1;
        assert!(plan.touched.contains(&tenant(TENANT)));
        assert!(!plan.touched.contains(&tenant("other")));
    }
}

#[test]
fn an_expiry_touches_its_tenant() {
    let mut engine = Engine::new(capped(Some(1), None));
    stock(&mut engine, "MUG", 10, T0);
    let outcome = engine.execute(&request(
        TENANT,
        "r".into(),
        T0,
        reserve(&[("MUG", "W1", 2)], false),
    ));
    let Ok(Target::Reservation(id)) = outcome.result else {
        panic!("{outcome:?}")
    };
    let (_, plan) = engine.propose_expiry(&id, T0 + 60_000).expect("due");
    assert!(plan.touched.contains(&tenant(TENANT)));
}

const TENANTS: [&str; 3] = ["a", "b", "c"];
const SKUS: [&str; 2] = ["MUG", "CUP"];

/// Engine A executes; engine B proposes, then applies each proposal as a
/// shared store would commit it (expiries too): same outcomes, same events,
/// same state, and the caps refuse along the way.
#[test]
fn proposing_then_applying_equals_executing_with_caps() {
    for seed in [1u64, 0x9E37_79B9_7F4A_7C15, 987_654_321] {
        let config = capped(Some(3), Some(12));
        let mut a = Engine::new(config.clone());
        let mut b = Engine::new(config.clone());
        for engine in [&mut a, &mut b] {
            for sku in SKUS {
                stock(engine, sku, 40, T0);
            }
        }
        a.drain_journal();
        let mut rng = Rng(seed);
        let mut now = T0;
        let mut ids: Vec<(String, String)> = Vec::new();
        let mut minted = 0u64;
        let mut refused = 0;
        let mut accepted = 0;
        for step in 0..500 {
            now += i64::try_from(rng.below(8_000)).unwrap();
            let who = TENANTS[rng.below(3) as usize];
            let command = if ids.is_empty() || rng.below(100) < 55 {
                let lines: Vec<LineRequest> = (0..=rng.below(2))
                    .map(|_| LineRequest::new(SKUS[rng.below(2) as usize], "W1", 1 + rng.below(6)))
                    .collect();
                Command::Reserve {
                    order_ref: "o".into(),
                    channel: "web".into(),
                    lines,
                    hold_seconds: 20 + i64::try_from(rng.below(40)).unwrap(),
                    allow_partial: rng.below(2) == 0,
                    destination_region: String::new(),
                }
            } else {
                let (owner, id) = ids[rng.below(ids.len() as u64) as usize].clone();
                let action = ["release", "allocate", "renew", "ship"][rng.below(4) as usize];
                let command = line_command(action, &id, vec![]);
                if action == "ship" {
                    // Shipping needs a pick first: pick everything allocated.
                    let pick = line_command("pick", &id, vec![]);
                    let req = request(&owner, format!("p{step}"), now, pick);
                    step_both(&mut a, &mut b, &req, &mut minted);
                }
                command
            };
            let req = request(who, format!("k{step}"), now, command);
            let outcome = step_both(&mut a, &mut b, &req, &mut minted);
            if outcome.reason == ReasonCode::QUOTA_EXCEEDED {
                refused += 1;
            }
            if let (Ok(Target::Reservation(id)), Command::Reserve { .. }) =
                (&outcome.result, &req.command)
            {
                accepted += 1;
                ids.push((who.to_owned(), id.to_string()));
            }
            for t in TENANTS {
                let (open, held) = a.tenant_holds(t);
                assert!(
                    open <= 3 && held <= 12,
                    "seed {seed} step {step}: {t} {open} {held}"
                );
                assert_eq!(a.tenant_holds(t), b.tenant_holds(t));
            }
        }
        assert!(
            a.snapshot() == b.snapshot(),
            "seed {seed}: snapshots differ"
        );
        assert!(refused > 10, "seed {seed}: only {refused} quota refusals");
        assert!(accepted > 50, "seed {seed}: only {accepted} holds");
    }
}

/// One request on both engines; checks outcomes, events and the plans' tenant
/// guards, and returns the outcome.
fn step_both(a: &mut Engine, b: &mut Engine, request: &Request, minted: &mut u64) -> Outcome {
    let now = request.meta.now;
    let mut b_events: Vec<Event> = Vec::new();
    for id in b.due_holds(now, usize::MAX) {
        let (mut event, plan) = b.propose_expiry(&id, now).expect("a due hold");
        assert!(plan.touched.contains(&tenant(&event.tenant)));
        let before = b.tenant_holds(&event.tenant);
        let seq = b.next_seq();
        b.apply_committed(seq, event.clone()).unwrap();
        assert_ne!(b.tenant_holds(&event.tenant), before);
        event.seq = seq;
        b_events.push(event);
    }
    let (outcome_b, proposal) = b.propose(request, *minted + 1);
    if let Some((mut event, plan)) = proposal {
        let own = tenant(&request.meta.tenant);
        match &event.change {
            Change::HoldPlaced { .. } => {
                *minted += 1;
                assert!(plan.unchanged.contains(&own));
            }
            Change::Rejected { .. } if matches!(request.command, Command::Reserve { .. }) => {
                assert!(plan.unchanged.contains(&own));
            }
            _ => {}
        }
        let before = b.tenant_holds(&request.meta.tenant);
        let seq = b.next_seq();
        b.apply_committed(seq, event.clone()).unwrap();
        if b.tenant_holds(&request.meta.tenant) != before {
            // Whatever changes a tenant's holds tells the store so.
            assert!(plan.touched.contains(&own), "{event:?} {plan:?}");
        }
        event.seq = seq;
        b_events.push(event);
    }
    let outcome_a = a.execute(request);
    assert_eq!(outcome_a, outcome_b, "{request:?}");
    a.expire_due(now);
    assert_eq!(a.drain_journal(), b_events, "{request:?}");
    outcome_a
}
