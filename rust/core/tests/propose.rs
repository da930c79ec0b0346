//! Proposals for a shared store: deciding without applying, then applying the
//! committed event, ends where `execute` ends (same outcomes, same ids, same
//! state); each plan names the guards and effects its event really has; due
//! holds and expiry proposals.

mod common;

use std::sync::Arc;

use common::{Rng, T0, TENANT};
use holdfast_core::engine::{Headroom, Object, Plan, PositionDelta};
use holdfast_core::rules::parse;
use holdfast_core::{
    Change, Command, Config, Engine, Event, LineRequest, LineState, Meta, Outcome, PositionView,
    ReasonCode, Request, ReservationId, ReservationView, Target,
};

const RULES: &str = r#"
version = "model-1"
author = "ana"

[holds]
default_seconds = 45
max_seconds = 600

[[safety_stock]]
location = "W2"
sku = "CU?"
quantity = 2

[[channel_caps]]
channel = "marketplace"
max_units = 6

[[capacity]]
location = "PAR"
time_zone = "UTC"
daily_pick_units = 8
"#;

const SKUS: [&str; 3] = ["MUG", "CUP", "PEN"];
const LOCATIONS: [&str; 3] = ["W1", "W2", "PAR"];
const UNKNOWN_ID: &str = "0190b9a0-0000-7000-8000-000000000001";

// ---------------------------------------------------------------- helpers

fn request(tenant: &str, key: &str, now: i64, command: Command) -> Request {
    Request {
        meta: Meta::new(tenant, key, "tester", now),
        command,
    }
}

fn reserve_cmd(channel: &str, lines: &[(&str, &str, u64)], hold_seconds: i64) -> Command {
    Command::Reserve {
        order_ref: "order".into(),
        channel: channel.into(),
        lines: lines
            .iter()
            .map(|(s, l, q)| LineRequest::new(*s, *l, *q))
            .collect(),
        hold_seconds,
        allow_partial: false,
        destination_region: String::new(),
    }
}

fn count_cmd(sku: &str, location: &str, on_hand: u64, source_sequence: u64) -> Command {
    Command::SetStock {
        sku: sku.into(),
        location: location.into(),
        on_hand,
        source_sequence,
        as_of: None,
    }
}

fn on(id: &str, action: &str, lines: &[(&str, &str, u64)]) -> Command {
    common::line_command(action, id, common::to_lines(lines))
}

fn position(sku: &str, location: &str) -> Object {
    Object::Position {
        sku: Arc::from(sku),
        location: Arc::from(location),
    }
}

fn id_of(outcome: &Outcome) -> ReservationId {
    match &outcome.result {
        Ok(Target::Reservation(id)) => *id,
        other => panic!("expected a reservation, got {other:?}"),
    }
}

fn with_rules(engine: &mut Engine, body: &str, now: i64) {
    let rules = parse(body).expect("valid rules");
    engine.activate_rules(rules, "ana", now).unwrap();
}

/// Propose and, when there is an event, apply it as committed.
fn propose_and_commit(engine: &mut Engine, request: &Request, mint: u64) -> Outcome {
    let (outcome, proposal) = engine.propose(request, mint);
    if let Some((event, _)) = proposal {
        let seq = engine.next_seq();
        engine.apply_committed(seq, event).expect("applies");
    }
    outcome
}

/// A shared store's sweep: propose every due hold's expiry and commit it.
fn commit_expiries(engine: &mut Engine, now: i64) -> Vec<(Event, Plan)> {
    let mut committed = Vec::new();
    for id in engine.due_holds(now, usize::MAX) {
        if let Some((event, plan)) = engine.propose_expiry(&id, now) {
            let seq = engine.next_seq();
            engine.apply_committed(seq, event.clone()).expect("applies");
            committed.push((event, plan));
        }
    }
    committed
}

fn mint_of(engine: &Engine) -> u64 {
    engine.reservation_count() as u64 + 1
}

// ---------------------------------------------------------- random model

/// Requests over a few SKUs and locations, reading `engine` (the reference)
/// for the reservations it can act on.
struct Generator {
    rng: Rng,
    now: i64,
    keys: u64,
    sent: Vec<Request>,
    counts: u64,
    ids: Vec<(String, String)>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Generator {
            rng: Rng(seed),
            now: T0,
            keys: 0,
            sent: Vec::new(),
            counts: 0,
            ids: Vec::new(),
        }
    }

    fn next(&mut self, reference: &Engine) -> Request {
        self.now += self.rng.below(4_000) as i64;
        let r = self.rng.below(100);
        if r < 8 && !self.sent.is_empty() {
            // The same request again under its key: a replay.
            let mut again = self.rng.pick(&self.sent).clone();
            again.meta.now = self.now;
            return again;
        }
        if r < 13 && !self.sent.is_empty() {
            // An old key with another command: reuse.
            let old = self.rng.pick(&self.sent).meta.clone();
            let command = self.command(reference);
            return request(&old.tenant, &old.idempotency_key, self.now, command);
        }
        let tenant = if self.rng.chance(7) {
            "elsewhere"
        } else {
            TENANT
        };
        self.keys += 1;
        let key = format!("k{}", self.keys);
        let command = self.command(reference);
        let made = request(tenant, &key, self.now, command);
        self.sent.push(made.clone());
        made
    }

    fn command(&mut self, reference: &Engine) -> Command {
        let rng = &mut self.rng;
        let sku = (*rng.pick(&SKUS)).to_owned();
        let location = (*rng.pick(&LOCATIONS)).to_owned();
        match rng.below(100) {
            0..=11 => {
                self.counts += 1;
                // Now and then a count older than the applied one: stale.
                let sequence = if rng.chance(10) {
                    self.counts / 2
                } else {
                    self.counts
                };
                count_cmd(&sku, &location, rng.below(25), sequence)
            }
            12..=15 => Command::AdjustStock {
                sku,
                location,
                delta: rng.below(11) as i64 - 5,
                adjustment_reason: "cycle".into(),
            },
            16..=18 => Command::SetSafetyStock {
                sku,
                location,
                quantity: rng.below(4),
            },
            19..=45 => {
                let n = 1 + rng.below(3);
                let mut lines = Vec::new();
                for _ in 0..n {
                    let sku = if rng.chance(4) {
                        "TEA"
                    } else {
                        *rng.pick(&SKUS)
                    };
                    let location = match rng.below(10) {
                        0..=3 => "",
                        4 => "NOWHERE",
                        _ => *rng.pick(&LOCATIONS),
                    };
                    let quantity = if rng.chance(3) { 0 } else { 1 + rng.below(6) };
                    lines.push(LineRequest::new(sku, location, quantity));
                }
                let hold_seconds = *rng.pick(&[0, 10, 30, 60, 120, 5_000]);
                let channel = *rng.pick(&["web", "web", "marketplace"]);
                Command::Reserve {
                    order_ref: "o".into(),
                    channel: channel.into(),
                    lines,
                    hold_seconds,
                    allow_partial: rng.chance(40),
                    destination_region: String::new(),
                }
            }
            _ => {
                let id = if self.ids.is_empty() || rng.chance(4) {
                    UNKNOWN_ID.to_owned()
                } else if rng.chance(60) {
                    // Mostly the recent ones, still held.
                    let recent = self.ids.len().saturating_sub(4);
                    rng.pick(&self.ids[recent..]).1.clone()
                } else {
                    rng.pick(&self.ids).1.clone()
                };
                let action = *rng.pick(&[
                    "allocate",
                    "allocate",
                    "allocate",
                    "release",
                    "renew",
                    "pick",
                    "pick",
                    "unpick",
                    "ship",
                    "ship",
                    "return",
                    "return-damaged",
                ]);
                let mut lines = Vec::new();
                if rng.chance(45) {
                    // Part of one line (or more than it holds, now and then).
                    if let Ok(view) = reference.reservation(TENANT, &id) {
                        let line = rng.pick(&view.lines).clone();
                        let quantity = 1 + rng.below(line.quantity + 1);
                        let location = if rng.chance(50) { "" } else { &line.location };
                        lines.push(LineRequest::new(&*line.sku, location, quantity));
                    }
                }
                let mut command = common::line_command(action, &id, lines);
                if let Command::RenewHold { hold_seconds, .. } = &mut command {
                    *hold_seconds = *rng.pick(&[0, 20, 90]);
                }
                command
            }
        }
    }

    fn note(&mut self, outcome: &Outcome, request: &Request) {
        if let (Ok(Target::Reservation(id)), false) = (&outcome.result, outcome.replayed) {
            let entry = (request.meta.tenant.clone(), id.to_string());
            if !self.ids.contains(&entry) {
                self.ids.push(entry);
            }
        }
    }
}

fn start(now: i64) -> Engine {
    let mut engine = Engine::new(Config::default());
    with_rules(&mut engine, RULES, now);
    engine
}

fn reservations(engine: &Engine, ids: &[(String, String)]) -> Vec<ReservationView> {
    ids.iter()
        .map(|(tenant, id)| engine.reservation(tenant, id).expect("exists"))
        .collect()
}

#[test]
fn proposing_then_applying_the_committed_event_equals_executing() {
    for seed in [0x9E37_79B9_7F4A_7C15, 42, 7_777_777] {
        let mut a = start(T0);
        let mut b = start(T0);
        a.drain_journal();
        let mut minted = 0u64;
        let mut generator = Generator::new(seed);
        let mut decided = 0;
        for step in 0..400 {
            let request = generator.next(&a);
            let now = request.meta.now;
            // B is driven as a shared store's replica: due holds are expired
            // by committed proposals, then the request is proposed.
            let mut b_events: Vec<Event> = Vec::new();
            for id in b.due_holds(now, usize::MAX) {
                let (mut event, _) = b.propose_expiry(&id, now).expect("a due hold");
                let seq = b.next_seq();
                b.apply_committed(seq, event.clone()).unwrap();
                event.seq = seq;
                b_events.push(event);
            }
            let (outcome_b, proposal) = b.propose(&request, minted + 1);
            if let Some((mut event, _)) = proposal {
                if matches!(event.change, Change::HoldPlaced { .. }) {
                    minted += 1;
                }
                let seq = b.next_seq();
                b.apply_committed(seq, event.clone()).unwrap();
                event.seq = seq;
                b_events.push(event);
                decided += 1;
            }
            let outcome_a = a.execute(&request);
            assert_eq!(outcome_a, outcome_b, "seed {seed} step {step}: {request:?}");
            generator.note(&outcome_a, &request);
            // A sweeps only for requests that pass validation: catch up.
            a.expire_due(now);
            let a_events = a.drain_journal();
            assert_eq!(a_events, b_events, "seed {seed} step {step}: {request:?}");
            assert_eq!(a.next_seq(), b.next_seq());
            assert_eq!(minted, a.reservation_count() as u64);
            if step % 25 == 0 {
                assert!(a.snapshot() == b.snapshot(), "seed {seed} step {step}");
            }
        }
        assert!(decided > 150, "seed {seed}: only {decided} new decisions");
        assert!(
            a.snapshot() == b.snapshot(),
            "seed {seed}: snapshots differ"
        );
        assert_eq!(a.positions(&[], &[]), b.positions(&[], &[]));
        assert_eq!(
            reservations(&a, &generator.ids),
            reservations(&b, &generator.ids)
        );
        assert_eq!(a.idempotency_key_count(), b.idempotency_key_count());
        assert_eq!(a.rule_version(), b.rule_version());
    }
}

#[test]
fn the_model_sequence_covers_every_kind_of_decision() {
    // Guards the model test against a generator that stopped exercising things.
    let mut a = start(T0);
    let mut generator = Generator::new(0x9E37_79B9_7F4A_7C15);
    let mut reasons = std::collections::BTreeSet::new();
    let mut replayed = 0;
    for _ in 0..400 {
        let request = generator.next(&a);
        let outcome = a.execute(&request);
        generator.note(&outcome, &request);
        replayed += usize::from(outcome.replayed);
        reasons.insert(format!("{:?}", outcome.reason));
    }
    assert!(replayed > 5, "{replayed} replays");
    for reason in [
        ReasonCode::RESERVED,
        ReasonCode::PARTIALLY_RESERVED,
        ReasonCode::ALLOCATED,
        ReasonCode::RELEASED,
        ReasonCode::HOLD_RENEWED,
        ReasonCode::PICKED,
        ReasonCode::SHIPPED,
        ReasonCode::RETURNED,
        ReasonCode::STOCK_SET,
        ReasonCode::STOCK_ADJUSTED,
        ReasonCode::SAFETY_STOCK_SET,
        ReasonCode::INSUFFICIENT_STOCK,
        ReasonCode::IDEMPOTENCY_KEY_REUSED,
        ReasonCode::INVALID_ARGUMENT,
        ReasonCode::STALE_UPDATE,
        ReasonCode::RESERVATION_NOT_FOUND,
    ] {
        assert!(
            reasons.contains(&format!("{reason:?}")),
            "{reason:?} never decided; got {reasons:?}"
        );
    }
}

// ------------------------------------------------ plans match their effects

fn committed_units(p: &PositionView) -> u64 {
    p.reserved + p.allocated + p.picked
}

fn find_position<'a>(views: &'a [PositionView], object: &Object) -> Option<&'a PositionView> {
    let Object::Position { sku, location } = object else {
        panic!("not a position: {object:?}");
    };
    views
        .iter()
        .find(|p| p.sku == *sku && p.location == *location)
}

fn holding(view: &ReservationView) -> bool {
    view.lines.iter().any(|l| l.state == LineState::Reserved)
}

/// Promised units per (location, date, state) of a reservation.
fn promises(view: Option<&ReservationView>) -> Vec<(Arc<str>, String, LineState, u64)> {
    let mut all: Vec<_> = view
        .into_iter()
        .flat_map(|v| v.lines.iter())
        .filter_map(|l| {
            l.promised_ship_date
                .map(|d| (l.location.clone(), d.to_string(), l.state, l.quantity))
        })
        .collect();
    all.sort_by(|x, y| (&x.0, &x.1, x.2 as u8, x.3).cmp(&(&y.0, &y.1, y.2 as u8, y.3)));
    all
}

/// Apply `event` to `engine` and check that `plan` says what it did.
fn check_plan(engine: &mut Engine, event: Event, plan: &Plan, ids: &[(String, String)]) {
    let context = format!("{event:?}\n{plan:?}");
    let before = engine.positions(&[], &[]);
    let subject = event.reservation_id();
    let view_of = |engine: &Engine, id: ReservationId| {
        ids.iter()
            .find_map(|(tenant, text)| {
                (*text == id.to_string())
                    .then(|| engine.reservation(tenant, text).ok())
                    .flatten()
            })
            .or_else(|| engine.reservation(&event.tenant, &id.to_string()).ok())
    };
    let reservation_before = subject.and_then(|id| view_of(engine, id));
    let rejected = matches!(event.change, Change::Rejected { .. });
    let seq = engine.next_seq();
    engine.apply_committed(seq, event.clone()).unwrap();
    let after = engine.positions(&[], &[]);
    let reservation_after = subject.and_then(|id| view_of(engine, id));

    assert!(plan.unchanged.contains(&Object::Rules), "{context}");
    assert!(!plan.touched.contains(&Object::Rules), "{context}");
    if rejected {
        assert!(plan.touched.is_empty(), "{context}");
        assert!(plan.positions.is_empty(), "{context}");
        assert!(plan.headroom.is_empty(), "{context}");
        assert_eq!(plan.reservation, None, "{context}");
        assert_eq!(plan.expiry, None, "{context}");
    }
    // Every bucket change is in the plan, and nothing else.
    for view in &after {
        let object = position(&view.sku, &view.location);
        let old = find_position(&before, &object);
        let delta = plan
            .positions
            .iter()
            .find(|(o, _)| *o == object)
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        let was = |f: fn(&PositionView) -> u64| old.map_or(0, f) as i64;
        let actual = PositionDelta {
            on_hand: view.on_hand as i64 - was(|p| p.on_hand),
            reserved: view.reserved as i64 - was(|p| p.reserved),
            allocated: view.allocated as i64 - was(|p| p.allocated),
            picked: view.picked as i64 - was(|p| p.picked),
            safety_stock: delta.safety_stock,
        };
        assert_eq!(delta, actual, "{}@{}: {context}", view.sku, view.location);
        if let Some(set) = delta.safety_stock {
            // The view keeps back the larger of the position's and the rules'.
            let rules = engine.rules().safety_stock_for(&view.sku, &view.location);
            assert_eq!(view.safety_stock, set.max(rules), "{context}");
        }
        if old != Some(view) {
            assert!(plan.touched.contains(&object), "{object:?}: {context}");
        }
        // Committed units grow only under a headroom guard that holds.
        let grew = committed_units(view) > old.map_or(0, committed_units);
        let guard = plan.headroom.iter().find(|(o, _)| *o == object);
        if grew {
            assert!(guard.is_some(), "{object:?} unguarded: {context}");
        }
        if let Some((
            _,
            Headroom {
                floor,
                safety_stock,
            },
        )) = guard
        {
            let old = old.expect("a guarded position existed");
            // The view keeps back the floor: the larger of the position's
            // own safety stock (guarded) and the rules'.
            let rule = engine.rules().safety_stock_for(&view.sku, &view.location);
            assert_eq!(*floor, (*safety_stock).max(rule), "{context}");
            assert_eq!(*floor, old.safety_stock, "{context}");
            assert!(
                view.on_hand as i128 - committed_units(view) as i128 >= *floor as i128,
                "{context}"
            );
        }
    }
    for (object, _) in &plan.headroom {
        assert!(plan.positions.iter().any(|(o, _)| o == object), "{context}");
    }
    // The reservation record and its due time.
    if let Some(view) = &reservation_after {
        if !rejected && matches!(event.change, Change::HoldPlaced { .. })
            || reservation_before.as_ref() != Some(view)
        {
            let object = Object::Reservation(view.id);
            assert!(plan.touched.contains(&object), "{context}");
            assert_eq!(
                plan.reservation,
                Some((view.id, view.tenant.clone(), view.state)),
                "{context}"
            );
            match plan.expiry {
                Some((id, Some(due))) => {
                    assert_eq!(id, view.id, "{context}");
                    assert!(holding(view), "{context}");
                    assert_eq!(view.expires_at, due, "{context}");
                }
                Some((id, None)) => {
                    assert_eq!(id, view.id, "{context}");
                    assert!(!holding(view), "{context}");
                }
                None => {
                    let before = reservation_before.as_ref().expect("existed");
                    assert_eq!(holding(before), holding(view), "{context}");
                    assert_eq!(before.expires_at, view.expires_at, "{context}");
                }
            }
        }
        // Promised units that change change the location's count.
        let (was, is) = (promises(reservation_before.as_ref()), promises(Some(view)));
        if was != is {
            for (location, ..) in was.iter().chain(is.iter()) {
                let capacity = Object::Capacity {
                    location: location.clone(),
                };
                assert!(plan.touched.contains(&capacity), "{context}");
            }
        }
    }
}

#[test]
fn every_plan_says_what_its_event_changes() {
    for seed in [0x9E37_79B9_7F4A_7C15, 42, 7_777_777] {
        let mut engine = start(T0);
        let mut generator = Generator::new(seed);
        for _ in 0..400 {
            let request = generator.next(&engine);
            let now = request.meta.now;
            for id in engine.due_holds(now, usize::MAX) {
                let (event, plan) = engine.propose_expiry(&id, now).expect("due");
                check_plan(&mut engine, event, &plan, &generator.ids);
            }
            let mint = mint_of(&engine);
            let (outcome, proposal) = engine.propose(&request, mint);
            generator.note(&outcome, &request);
            if let Some((event, plan)) = proposal {
                check_plan(&mut engine, event, &plan, &generator.ids);
            }
        }
    }
}

// ------------------------------------------------------ plans by hand

/// MUG at W1 (20, safety stock 4) and W2 (20, safety stock 1); rules keep
/// 1 back at W1 and 3 at W2.
fn two_warehouses() -> Engine {
    let mut engine = Engine::new(Config::default());
    let rules = "version = \"v2\"\nauthor = \"a\"\n\
        [[safety_stock]]\nlocation = \"W1\"\nsku = \"MUG\"\nquantity = 1\n\
        [[safety_stock]]\nlocation = \"W2\"\nsku = \"M*\"\nquantity = 3\n\
        [[channel_caps]]\nchannel = \"marketplace\"\nmax_units = 10\n\
        [[capacity]]\nlocation = \"PAR\"\ntime_zone = \"UTC\"\ndaily_pick_units = 100\n";
    with_rules(&mut engine, rules, T0);
    let setup = [
        count_cmd("MUG", "W1", 20, 1),
        count_cmd("MUG", "W2", 20, 1),
        count_cmd("MUG", "W3", 20, 1),
        count_cmd("MUG", "PAR", 20, 1),
        Command::SetSafetyStock {
            sku: "MUG".into(),
            location: "W1".into(),
            quantity: 4,
        },
        Command::SetSafetyStock {
            sku: "MUG".into(),
            location: "W2".into(),
            quantity: 1,
        },
    ];
    for (i, command) in setup.into_iter().enumerate() {
        let outcome = engine.execute(&request(TENANT, &format!("setup-{i}"), T0, command));
        assert!(outcome.is_accepted(), "{outcome:?}");
    }
    engine
}

fn run(engine: &mut Engine, key: &str, command: Command) -> Outcome {
    let outcome = engine.execute(&request(TENANT, key, T0, command));
    assert!(outcome.is_accepted(), "{outcome:?}");
    outcome
}

fn proposed(engine: &mut Engine, key: &str, command: Command) -> (Outcome, Event, Plan) {
    let mint = mint_of(engine);
    let (outcome, proposal) = engine.propose(&request(TENANT, key, T0, command), mint);
    let (event, plan) = proposal.expect("a new decision");
    (outcome, event, plan)
}

#[test]
fn a_reserve_guards_headroom_per_position_and_changes_nothing_yet() {
    let mut engine = two_warehouses();
    let before = engine.snapshot();
    let lines = [("MUG", "W1", 2), ("MUG", "W2", 3), ("MUG", "W1", 1)];
    let (outcome, event, plan) = proposed(&mut engine, "r", reserve_cmd("web", &lines, 60));
    assert_eq!(outcome.reason, ReasonCode::RESERVED);
    let id = id_of(&outcome);
    assert_eq!(event.reservation_id(), Some(id));
    assert!(engine.snapshot() == before, "a proposal applies nothing");

    assert_eq!(
        plan.headroom,
        [
            (
                position("MUG", "W1"),
                Headroom {
                    floor: 4,
                    safety_stock: 4
                }
            ),
            (
                position("MUG", "W2"),
                Headroom {
                    floor: 3,
                    safety_stock: 1
                }
            ),
        ]
    );
    let reserved = |n| PositionDelta {
        reserved: n,
        ..PositionDelta::default()
    };
    assert_eq!(
        plan.positions,
        [
            (position("MUG", "W1"), reserved(3)),
            (position("MUG", "W2"), reserved(3))
        ]
    );
    assert!(plan.unchanged.contains(&Object::Reservation(id)));
    assert!(plan.unchanged.contains(&Object::Rules));
    assert!(
        !plan.unchanged.contains(&position("MUG", "W1")),
        "web is not capped"
    );
    for object in [
        Object::Reservation(id),
        position("MUG", "W1"),
        position("MUG", "W2"),
    ] {
        assert!(plan.touched.contains(&object), "{object:?}");
    }
    assert!(!plan.touched.contains(&Object::Rules));
    assert_eq!(
        plan.reservation,
        Some((id, Arc::from(TENANT), LineState::Reserved))
    );
    assert_eq!(plan.expiry, Some((id, Some(T0 + 60_000))));
    assert_eq!(plan.rule_version_set, None);
}

#[test]
fn an_allocation_moves_reserved_to_allocated_without_a_headroom_guard() {
    let mut engine = two_warehouses();
    let id = id_of(&run(
        &mut engine,
        "r",
        reserve_cmd("web", &[("MUG", "W3", 5)], 60),
    ))
    .to_string();
    let (outcome, _, plan) = proposed(&mut engine, "a", on(&id, "allocate", &[]));
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    assert!(plan.headroom.is_empty());
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W3"),
            PositionDelta {
                reserved: -5,
                allocated: 5,
                ..PositionDelta::default()
            }
        )]
    );
    let id = ids(&id);
    assert_eq!(plan.expiry, Some((id, None)));
    assert_eq!(
        plan.reservation,
        Some((id, Arc::from(TENANT), LineState::Allocated))
    );
    assert!(plan.unchanged.contains(&Object::Reservation(id)));
    assert!(plan.unchanged.contains(&Object::Rules));
}

fn ids(text: &str) -> ReservationId {
    holdfast_core::ids::parse(text).unwrap()
}

#[test]
fn allocating_part_of_a_line_plans_the_state_and_the_end_of_the_hold() {
    // Allocating 3 of a 5-unit line moves 3 to allocated and releases the
    // other 2 of the same line: the reservation is then allocated, and no
    // longer a hold.
    let mut engine = two_warehouses();
    let id = id_of(&run(
        &mut engine,
        "r",
        reserve_cmd("web", &[("MUG", "W3", 5)], 60),
    ));
    let (outcome, event, plan) = proposed(
        &mut engine,
        "a",
        on(&id.to_string(), "allocate", &[("MUG", "W3", 3)]),
    );
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W3"),
            PositionDelta {
                reserved: -5,
                allocated: 3,
                ..PositionDelta::default()
            }
        )]
    );
    let seq = engine.next_seq();
    engine.apply_committed(seq, event).unwrap();
    let view = engine.reservation(TENANT, &id.to_string()).unwrap();
    assert_eq!(view.state, LineState::Allocated);
    assert_eq!(
        plan.reservation,
        Some((id, Arc::from(TENANT), view.state)),
        "the plan's state is the reservation's state after the event"
    );
    assert_eq!(plan.expiry, Some((id, None)), "the hold ended");
}

#[test]
fn picking_a_line_in_two_parts_plans_the_state_after_both() {
    // Two groups of one request (any location, then W3 by name) take the
    // whole of one allocated line between them.
    let mut engine = two_warehouses();
    let id = id_of(&run(
        &mut engine,
        "r",
        reserve_cmd("web", &[("MUG", "W3", 3)], 60),
    ));
    let text = id.to_string();
    run(&mut engine, "a", on(&text, "allocate", &[]));
    let (outcome, event, plan) = proposed(
        &mut engine,
        "p",
        on(&text, "pick", &[("MUG", "", 2), ("MUG", "W3", 1)]),
    );
    assert_eq!(outcome.reason, ReasonCode::PICKED);
    let seq = engine.next_seq();
    engine.apply_committed(seq, event).unwrap();
    let view = engine.reservation(TENANT, &text).unwrap();
    assert_eq!(view.state, LineState::Picked);
    assert_eq!(plan.reservation, Some((id, Arc::from(TENANT), view.state)));
}

#[test]
fn a_shipment_lowers_on_hand_and_picked_and_a_restocked_return_raises_on_hand() {
    let mut engine = two_warehouses();
    let id = id_of(&run(
        &mut engine,
        "r",
        reserve_cmd("web", &[("MUG", "W3", 4)], 60),
    ))
    .to_string();
    run(&mut engine, "a", on(&id, "allocate", &[]));
    run(&mut engine, "p", on(&id, "pick", &[]));
    let (outcome, event, plan) = proposed(&mut engine, "s", on(&id, "ship", &[("MUG", "W3", 3)]));
    assert_eq!(outcome.reason, ReasonCode::SHIPPED);
    assert!(plan.headroom.is_empty());
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W3"),
            PositionDelta {
                on_hand: -3,
                picked: -3,
                ..PositionDelta::default()
            }
        )]
    );
    let seq = engine.next_seq();
    engine.apply_committed(seq, event).unwrap();
    assert_eq!(engine.position("MUG", "W3").unwrap().on_hand, 17);

    let (outcome, _, plan) = proposed(&mut engine, "ret", on(&id, "return", &[("MUG", "", 2)]));
    assert_eq!(outcome.reason, ReasonCode::RETURNED);
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W3"),
            PositionDelta {
                on_hand: 2,
                ..PositionDelta::default()
            }
        )]
    );
    assert!(plan.headroom.is_empty());
    let (_, _, damaged) = proposed(&mut engine, "dmg", on(&id, "return-damaged", &[]));
    let on_hand: i64 = damaged.positions.iter().map(|(_, d)| d.on_hand).sum();
    assert_eq!(on_hand, 0, "a return that is not restocked: {damaged:?}");
}

#[test]
fn a_shortfall_touches_nothing_but_guards_every_position_of_the_sku() {
    let mut engine = two_warehouses();
    let (outcome, event, plan) = proposed(
        &mut engine,
        "big",
        reserve_cmd("web", &[("MUG", "", 100)], 60),
    );
    assert_eq!(outcome.reason, ReasonCode::INSUFFICIENT_STOCK);
    assert!(matches!(event.change, Change::Rejected { .. }));
    assert!(plan.touched.is_empty());
    assert!(plan.positions.is_empty());
    assert!(plan.headroom.is_empty());
    assert_eq!(plan.reservation, None);
    assert_eq!(plan.expiry, None);
    for location in ["W1", "W2", "W3", "PAR"] {
        assert!(
            plan.unchanged.contains(&position("MUG", location)),
            "{location}: {plan:?}"
        );
    }
    assert!(plan.unchanged.contains(&Object::Rules));
    // Applied, it stores the refusal under its key and changes no position.
    let positions = engine.positions(&[], &[]);
    let seq = engine.next_seq();
    engine.apply_committed(seq, event).unwrap();
    assert_eq!(engine.positions(&[], &[]), positions);
    let again = engine.propose(
        &request(
            TENANT,
            "big",
            T0 + 1,
            reserve_cmd("web", &[("MUG", "", 100)], 60),
        ),
        mint_of(&engine),
    );
    assert!(again.0.replayed && again.1.is_none());
}

#[test]
fn a_refusal_is_guarded_against_a_position_the_sku_gains_meanwhile() {
    // The refusal read "MUG is stocked at W1..PAR and none has 30 free". A
    // count committed meanwhile that stocks MUG at a new location W9 makes
    // it wrong; the store can tell only if the refusal guards something the
    // count touches.
    let mut engine = two_warehouses();
    let reserve = reserve_cmd("web", &[("MUG", "", 30)], 60);
    let (outcome, _, refusal) = proposed(&mut engine, "big", reserve.clone());
    assert_eq!(outcome.reason, ReasonCode::INSUFFICIENT_STOCK);
    let (_, count, count_plan) = proposed(&mut engine, "count", count_cmd("MUG", "W9", 50, 1));
    let seq = engine.next_seq();
    engine.apply_committed(seq, count).unwrap();
    let (redecided, _) = engine.propose(&request(TENANT, "big-2", T0, reserve), mint_of(&engine));
    assert_eq!(
        redecided.reason,
        ReasonCode::RESERVED,
        "the refusal is stale"
    );
    assert!(
        refusal
            .unchanged
            .iter()
            .any(|object| count_plan.touched.contains(object)),
        "a store would commit the stale refusal: it guards {:?}, the count touched {:?}",
        refusal.unchanged,
        count_plan.touched
    );
}

#[test]
fn a_count_plans_the_difference_from_the_current_on_hand() {
    let mut engine = two_warehouses();
    let (outcome, _, plan) = proposed(&mut engine, "c", count_cmd("MUG", "W1", 7, 2));
    assert_eq!(outcome.reason, ReasonCode::STOCK_SET);
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W1"),
            PositionDelta {
                on_hand: -13,
                ..PositionDelta::default()
            }
        )]
    );
    assert!(plan.unchanged.contains(&position("MUG", "W1")));
    assert!(plan.touched.contains(&position("MUG", "W1")));
    // A position that does not exist yet: from zero.
    let (_, _, plan) = proposed(&mut engine, "n", count_cmd("CUP", "W1", 9, 1));
    assert_eq!(
        plan.positions,
        [(
            position("CUP", "W1"),
            PositionDelta {
                on_hand: 9,
                ..PositionDelta::default()
            }
        )]
    );
    // A stale count is a refusal: it guards the position, changes nothing.
    let (outcome, _, plan) = proposed(&mut engine, "old", count_cmd("MUG", "W1", 3, 1));
    assert_eq!(outcome.reason, ReasonCode::STALE_UPDATE);
    assert!(plan.positions.is_empty() && plan.touched.is_empty());
    assert!(plan.unchanged.contains(&position("MUG", "W1")));
}

#[test]
fn a_capped_channel_guards_the_position_unchanged() {
    let mut engine = two_warehouses();
    let (outcome, _, plan) = proposed(
        &mut engine,
        "m",
        reserve_cmd("marketplace", &[("MUG", "W3", 2), ("MUG", "W2", 1)], 60),
    );
    assert_eq!(outcome.reason, ReasonCode::RESERVED);
    assert!(plan.unchanged.contains(&position("MUG", "W3")));
    assert!(plan.unchanged.contains(&position("MUG", "W2")));
    assert!(!plan.unchanged.contains(&position("MUG", "W1")));
    assert_eq!(plan.headroom.len(), 2);
}

#[test]
fn an_allocation_promising_a_ship_date_guards_the_locations_capacity() {
    let mut engine = two_warehouses();
    let at_par = id_of(&run(
        &mut engine,
        "p",
        reserve_cmd("web", &[("MUG", "PAR", 2)], 60),
    ));
    let at_w3 = id_of(&run(
        &mut engine,
        "w",
        reserve_cmd("web", &[("MUG", "W3", 2)], 60),
    ));
    let (outcome, event, plan) =
        proposed(&mut engine, "ap", on(&at_par.to_string(), "allocate", &[]));
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    let Change::LinesAllocated { promised, .. } = &event.change else {
        panic!("{event:?}");
    };
    assert_eq!(promised.len(), 1);
    let capacity = Object::Capacity {
        location: Arc::from("PAR"),
    };
    assert!(plan.unchanged.contains(&capacity), "{plan:?}");
    assert!(plan.touched.contains(&capacity));
    assert!(plan.headroom.is_empty());
    let (_, _, plan) = proposed(&mut engine, "aw", on(&at_w3.to_string(), "allocate", &[]));
    assert!(
        !plan
            .unchanged
            .iter()
            .any(|o| matches!(o, Object::Capacity { .. })),
        "W3 has no capacity rule: {plan:?}"
    );
}

// ----------------------------------------------------------- due holds

/// Stock and one hold of 1 unit per (key, seconds), all placed at T0.
fn holds(engine: &mut Engine, seconds: &[i64]) -> Vec<String> {
    run(engine, "stock", count_cmd("MUG", "W1", 100, 1));
    seconds
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let outcome = run(
                engine,
                &format!("h{i}"),
                reserve_cmd("web", &[("MUG", "W1", 1)], *s),
            );
            id_of(&outcome).to_string()
        })
        .collect()
}

fn texts(ids: Vec<ReservationId>) -> Vec<String> {
    ids.into_iter().map(|id| id.to_string()).collect()
}

#[test]
fn due_holds_come_soonest_first_without_renewed_or_ended_ones() {
    let mut engine = Engine::new(Config::default());
    let h = holds(&mut engine, &[10, 30, 20, 40, 15, 25]);
    run(&mut engine, "end-3", on(&h[3], "release", &[]));
    run(
        &mut engine,
        "renew-4",
        Command::RenewHold {
            reservation_id: h[4].clone(),
            hold_seconds: 100,
        },
    );
    run(&mut engine, "alloc-5", on(&h[5], "allocate", &[]));
    let at = T0 + 50_000;
    let want = vec![h[0].clone(), h[2].clone(), h[1].clone()];
    assert_eq!(texts(engine.due_holds(at, 10)), want);
    assert_eq!(
        texts(engine.due_holds(at, 10)),
        want,
        "asking twice loses nothing"
    );
    assert_eq!(texts(engine.due_holds(at, 2)), want[..2]);
    assert_eq!(texts(engine.due_holds(at, 0)), Vec::<String>::new());
    assert_eq!(
        texts(engine.due_holds(at, 10)),
        want,
        "a limit loses nothing"
    );
    assert_eq!(
        texts(engine.due_holds(T0 + 9_999, 10)),
        Vec::<String>::new()
    );
    assert_eq!(texts(engine.due_holds(T0 + 10_000, 10)), want[..1]);
    let later = vec![h[0].clone(), h[2].clone(), h[1].clone(), h[4].clone()];
    assert_eq!(texts(engine.due_holds(T0 + 100_000, 10)), later);
    assert_eq!(texts(engine.due_holds(T0 + 100_000, 10)), later);
    // The renewed hold's old due time is not its due time.
    assert_eq!(engine.propose_expiry(&ids(&h[4]), at), None);
    // Nothing was expired by asking.
    assert_eq!(engine.open_holds(), 4);
}

#[test]
fn a_hold_renewed_to_its_own_due_time_is_due_once() {
    let mut engine = Engine::new(Config::default());
    let h = holds(&mut engine, &[60]);
    run(
        &mut engine,
        "renew",
        Command::RenewHold {
            reservation_id: h[0].clone(),
            hold_seconds: 60,
        },
    );
    assert_eq!(
        texts(engine.due_holds(T0 + 60_000, 10)),
        [h[0].clone()],
        "two heap entries, one hold"
    );
}

#[test]
fn due_holds_skip_holds_whose_expiry_was_committed() {
    let mut engine = Engine::new(Config::default());
    let h = holds(&mut engine, &[10, 20]);
    let committed = commit_expiries(&mut engine, T0 + 10_000);
    assert_eq!(committed.len(), 1);
    assert_eq!(texts(engine.due_holds(T0 + 30_000, 10)), [h[1].clone()]);
}

// ------------------------------------------------------- expiry proposals

#[test]
fn propose_expiry_is_none_unless_the_hold_is_due_and_live() {
    let mut engine = Engine::new(Config::default());
    let h = holds(&mut engine, &[10, 10, 10, 10]);
    let late = T0 + 1_000_000;
    assert_eq!(engine.propose_expiry(&ids(UNKNOWN_ID), late), None);
    // Renewed past now.
    let renew = Command::RenewHold {
        reservation_id: h[0].clone(),
        hold_seconds: 60,
    };
    let outcome = engine.execute(&request(TENANT, "renew", T0 + 5_000, renew));
    assert!(outcome.is_accepted());
    assert_eq!(engine.propose_expiry(&ids(&h[0]), T0 + 20_000), None);
    assert!(engine.propose_expiry(&ids(&h[0]), T0 + 65_000).is_some());
    // No longer holding.
    run(&mut engine, "rel", on(&h[1], "release", &[]));
    run(&mut engine, "alloc", on(&h[2], "allocate", &[]));
    assert_eq!(engine.propose_expiry(&ids(&h[1]), late), None);
    assert_eq!(engine.propose_expiry(&ids(&h[2]), late), None);
    // Not due yet.
    assert_eq!(engine.propose_expiry(&ids(&h[3]), T0 + 9_999), None);
    assert!(engine.propose_expiry(&ids(&h[3]), T0 + 10_000).is_some());
}

#[test]
fn a_committed_expiry_ends_the_hold_as_a_sweep_does() {
    let build = || {
        let mut engine = Engine::new(Config::default());
        let h = holds(&mut engine, &[10, 30]);
        run(
            &mut engine,
            "alloc",
            on(&h[1], "allocate", &[("MUG", "W1", 1)]),
        );
        engine.drain_journal();
        (engine, h)
    };
    let (mut swept, h) = build();
    let (mut proposing, _) = build();
    let now = T0 + 25_000;
    let expired = swept.expire_due(now);
    assert_eq!(texts(expired), [h[0].clone()]);
    let journal = swept.drain_journal();

    let id = ids(&h[0]);
    let positions = proposing.positions(&[], &[]);
    let (event, plan) = proposing.propose_expiry(&id, now).expect("due");
    assert_eq!(
        proposing.positions(&[], &[]),
        positions,
        "nothing applied yet"
    );
    assert_eq!(event.reason, ReasonCode::HOLD_EXPIRED);
    assert_eq!(event.idempotency_key, None);
    assert_eq!(plan.expiry, Some((id, None)));
    assert_eq!(
        plan.reservation,
        Some((id, Arc::from(TENANT), LineState::Expired))
    );
    assert_eq!(
        plan.positions,
        [(
            position("MUG", "W1"),
            PositionDelta {
                reserved: -1,
                ..PositionDelta::default()
            }
        )]
    );
    assert!(plan.headroom.is_empty());
    let seq = proposing.next_seq();
    proposing.apply_committed(seq, event.clone()).unwrap();
    let mut numbered = event;
    numbered.seq = seq;
    assert_eq!(journal, [numbered]);

    assert!(swept.snapshot() == proposing.snapshot());
    assert_eq!(swept.positions(&[], &[]), proposing.positions(&[], &[]));
    for id in &h {
        assert_eq!(
            swept.reservation(TENANT, id),
            proposing.reservation(TENANT, id)
        );
    }
    let view = proposing.reservation(TENANT, &h[0]).unwrap();
    assert_eq!(view.state, LineState::Expired);
    assert_eq!(proposing.propose_expiry(&id, now), None);
    assert!(proposing.due_holds(now, 10).is_empty());
    // A request at the same time finds the hold expired on both.
    let release = request(TENANT, "late", now, on(&h[0], "release", &[]));
    let mint = mint_of(&proposing);
    assert_eq!(swept.execute(&release), proposing.propose(&release, mint).0);
}

#[test]
fn concurrent_proposals_of_one_engine_mint_distinct_ids() {
    let mut engine = two_warehouses();
    let mint = mint_of(&engine);
    let first = request(TENANT, "x", T0, reserve_cmd("web", &[("MUG", "W3", 1)], 60));
    let second = request(TENANT, "y", T0, reserve_cmd("web", &[("MUG", "W3", 1)], 60));
    let (a, _) = engine.propose(&first, mint);
    let (b, _) = engine.propose(&second, mint + 1);
    assert_ne!(id_of(&a), id_of(&b));
    // The engine's own counter is untouched: execute mints what `mint` would.
    let executed = engine.execute(&first);
    assert_eq!(id_of(&executed), id_of(&a));
    let mint = mint_of(&engine);
    let outcome = propose_and_commit(&mut engine, &second, mint);
    assert_eq!(id_of(&outcome), id_of(&b));
}

#[test]
fn a_switch_guards_the_rules_it_was_decided_on() {
    // A switch another switch overtook is chosen again (a rollback's target
    // depends on what was active): its plan guards the rules unchanged.
    let engine = two_warehouses();
    let (event, plan) = engine.propose_rule_version("v2", "ana", T0);
    assert!(matches!(event.change, Change::RuleVersionSet { .. }));
    assert_eq!(plan.unchanged, [Object::Rules]);
    assert_eq!(plan.touched, [Object::Rules]);
    assert_eq!(plan.rule_version_set, Some(Arc::from("v2")));
    assert!(plan.positions.is_empty() && plan.headroom.is_empty());
}
