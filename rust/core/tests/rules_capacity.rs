//! Daily pick capacity and carrier cutoffs with time zones, time passed
//! explicitly: the promised ship date of each allocation, CAPACITY_EXCEEDED
//! and its reset at the local day boundary, CUTOFF_MISSED against ship_by,
//! and the capacity index surviving replay and restore.

mod common;

use chrono::NaiveDate;
use common::{line_command, World, TENANT};
use holdfast_core::rules::parse;
use holdfast_core::{
    Change, Command, Config, Engine, Event, LineState, ReasonCode, Rejection, ShipDate,
};

/// Unix ms of a UTC wall-clock time.
fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(h, min, 0)
        .unwrap()
        .and_utc()
        .timestamp_millis()
}

fn date(text: &str) -> ShipDate {
    ShipDate::parse(text).unwrap()
}

const RULES: &str = r#"
version = "cap-1"
author = "ana"

[[capacity]]
location = "PAR"
time_zone = "Europe/Paris"
daily_pick_units = 10
cutoff = "15:00"

[[capacity]]
location = "TYO"
time_zone = "Asia/Tokyo"
daily_pick_units = 4

[[capacity]]
location = "LAX"
time_zone = "America/Los_Angeles"
cutoff = "16:00"
"#;

/// Stock at every location (and one with no capacity rule), rules active.
fn world(now: i64) -> World {
    let mut world = World::new();
    world.now = now;
    for location in ["PAR", "TYO", "LAX", "DUB"] {
        world.stock("MUG", location, 1_000);
    }
    let rules = parse(RULES).expect("valid rules");
    world.engine.activate_rules(rules, "ana", now).unwrap();
    world
}

fn allocate_by(world: &mut World, id: &str, ship_by: &str) -> holdfast_core::Outcome {
    world.run(Command::Allocate {
        reservation_id: id.to_owned(),
        lines: vec![],
        ship_by: ship_by.to_owned(),
    })
}

/// Reserve `units` at `location` and allocate them at the world's time.
fn allocate(world: &mut World, location: &str, units: u64) -> (String, holdfast_core::Outcome) {
    let id = world.reserve_id(&[("MUG", location, units)]);
    let outcome = allocate_by(world, &id, "");
    (id, outcome)
}

/// The promised date of every line of the reservation, in line order.
fn promised(world: &World, id: &str) -> Vec<Option<String>> {
    let view = world.engine.reservation(TENANT, id).unwrap();
    view.lines
        .iter()
        .map(|l| l.promised_ship_date.map(|d| d.to_string()))
        .collect()
}

fn promised_one(world: &mut World, location: &str, now: i64) -> String {
    world.now = now;
    let (id, outcome) = allocate(world, location, 1);
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED, "{outcome:?}");
    promised(world, &id)[0].clone().expect("a promise")
}

#[test]
fn the_cutoff_is_read_in_the_locations_own_time_zone() {
    let mut w = world(utc(2026, 1, 15, 8, 0));
    // 13:30 UTC is 14:30 in Paris in winter (CET): before the 15:00 cutoff...
    assert_eq!(
        promised_one(&mut w, "PAR", utc(2026, 1, 15, 13, 30)),
        "2026-01-15"
    );
    // ...and 15:30 in summer (CEST): the carrier has left, it ships tomorrow.
    assert_eq!(
        promised_one(&mut w, "PAR", utc(2026, 7, 1, 13, 30)),
        "2026-07-02"
    );
    // The cutoff minute itself is too late.
    assert_eq!(
        promised_one(&mut w, "PAR", utc(2026, 7, 1, 13, 0)),
        "2026-07-02"
    );
    assert_eq!(
        promised_one(&mut w, "PAR", utc(2026, 7, 1, 12, 59)),
        "2026-07-01"
    );
}

#[test]
fn cutoffs_across_midnight_follow_the_local_date() {
    let mut w = world(utc(2026, 7, 1, 0, 0));
    // 23:30 UTC on the 1st is already 08:30 on the 2nd in Tokyo (no cutoff).
    assert_eq!(
        promised_one(&mut w, "TYO", utc(2026, 7, 1, 23, 30)),
        "2026-07-02"
    );
    // 03:00 UTC on the 2nd is still 20:00 on the 1st in Los Angeles (PDT),
    // past its 16:00 cutoff: the 2nd.
    assert_eq!(
        promised_one(&mut w, "LAX", utc(2026, 7, 2, 3, 0)),
        "2026-07-02"
    );
    // 23:00 UTC on the 1st is 16:00 in Los Angeles: tomorrow, the 2nd.
    assert_eq!(
        promised_one(&mut w, "LAX", utc(2026, 7, 1, 23, 0)),
        "2026-07-02"
    );
    // 22:59 UTC is 15:59 there: today.
    assert_eq!(
        promised_one(&mut w, "LAX", utc(2026, 7, 1, 22, 59)),
        "2026-07-01"
    );
}

#[test]
fn a_location_without_a_capacity_rule_promises_nothing() {
    let mut w = world(utc(2026, 7, 1, 10, 0));
    let (id, outcome) = allocate(&mut w, "DUB", 3);
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    assert_eq!(promised(&w, &id), vec![None]);
    // Its allocation is journaled as before.
    let events = w.engine.drain_journal();
    assert_eq!(events.last().unwrap().kind(), "lines_moved");
}

#[test]
fn capacity_used_up_refuses_and_resets_at_the_local_day_boundary() {
    // 14:00 UTC is 23:00 in Tokyo: the last hour of July 1st there.
    let mut w = world(utc(2026, 7, 1, 14, 0));
    let (first, outcome) = allocate(&mut w, "TYO", 4);
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    assert_eq!(w.engine.capacity_used("TYO", date("2026-07-01")), 4);

    w.now = utc(2026, 7, 1, 14, 59);
    let (refused, outcome) = allocate(&mut w, "TYO", 1);
    assert_eq!(outcome.reason, ReasonCode::CAPACITY_EXCEEDED);
    assert_eq!(
        outcome.result,
        Err(Rejection::CapacityExceeded {
            location: "TYO".into(),
            date: "2026-07-01".into(),
            capacity: 4,
            used: 4,
            requested: 1,
        })
    );
    assert!(ReasonCode::CAPACITY_EXCEEDED.info().retryable);
    // Refused: the hold stays a hold.
    assert_eq!(
        w.engine.reservation(TENANT, &refused).unwrap().state,
        LineState::Reserved
    );

    // Midnight in Tokyo (15:00 UTC): a new day, its capacity all there.
    w.now = utc(2026, 7, 1, 15, 0);
    let (next, outcome) = allocate(&mut w, "TYO", 1);
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED, "{outcome:?}");
    assert_eq!(promised(&w, &next), vec![Some("2026-07-02".into())]);
    assert_eq!(w.engine.capacity_used("TYO", date("2026-07-02")), 1);
    assert_eq!(w.engine.capacity_used("TYO", date("2026-07-01")), 4);
    assert!(!first.is_empty());
}

#[test]
fn released_units_give_capacity_back_and_shipped_ones_keep_it() {
    let mut w = world(utc(2026, 1, 15, 9, 0));
    let day = date("2026-01-15");
    let (a, _) = allocate(&mut w, "PAR", 6);
    let (b, _) = allocate(&mut w, "PAR", 4);
    assert_eq!(w.engine.capacity_used("PAR", day), 10);
    let (c, outcome) = allocate(&mut w, "PAR", 1);
    assert_eq!(outcome.reason, ReasonCode::CAPACITY_EXCEEDED);

    // Allocated then released: given back.
    assert!(w.act("release", &a).is_accepted());
    assert_eq!(w.engine.capacity_used("PAR", day), 4);
    // Picked (part of it), unpicked, released: given back too.
    assert!(w.act_lines("pick", &b, &[("MUG", "PAR", 3)]).is_accepted());
    assert_eq!(promised(&w, &b), vec![Some("2026-01-15".into()); 2]);
    assert_eq!(w.engine.capacity_used("PAR", day), 4);
    assert!(w.act("unpick", &b).is_accepted());
    assert!(w.act("release", &b).is_accepted());
    assert_eq!(w.engine.capacity_used("PAR", day), 0);

    // Picked and shipped: the pick happened, the capacity stays used.
    assert_eq!(allocate_by(&mut w, &c, "").reason, ReasonCode::ALLOCATED);
    assert!(w.act("pick", &c).is_accepted());
    assert!(w.act("ship", &c).is_accepted());
    assert!(w.act("return", &c).is_accepted());
    assert_eq!(w.engine.capacity_used("PAR", day), 1);
    w.engine.check_invariants().unwrap();
}

#[test]
fn a_partial_allocation_promises_only_what_it_allocates() {
    let mut w = world(utc(2026, 1, 15, 9, 0));
    let id = w.reserve_id(&[("MUG", "PAR", 5)]);
    let outcome = w.run(line_command(
        "allocate",
        &id,
        common::to_lines(&[("MUG", "PAR", 2)]),
    ));
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    let view = w.engine.reservation(TENANT, &id).unwrap();
    let lines: Vec<_> = view
        .lines
        .iter()
        .map(|l| (l.state, l.quantity, l.promised_ship_date))
        .collect();
    assert_eq!(
        lines,
        vec![
            (LineState::Released, 3, None),
            (LineState::Allocated, 2, Some(date("2026-01-15"))),
        ]
    );
    assert_eq!(w.engine.capacity_used("PAR", date("2026-01-15")), 2);
}

#[test]
fn ship_by_before_the_promise_is_cutoff_missed() {
    // 14:30 UTC in summer is 16:30 in Paris: past the cutoff, ships the 2nd.
    let mut w = world(utc(2026, 7, 1, 14, 30));
    let id = w.reserve_id(&[("MUG", "PAR", 2)]);
    let outcome = allocate_by(&mut w, &id, "2026-07-01");
    assert_eq!(outcome.reason, ReasonCode::CUTOFF_MISSED);
    assert_eq!(
        outcome.result,
        Err(Rejection::CutoffMissed {
            location: "PAR".into(),
            ship_by: "2026-07-01".into(),
            promised: "2026-07-02".into(),
            cutoff: "15:00".into(),
            time_zone: "Europe/Paris".into(),
        })
    );
    assert_eq!(w.engine.capacity_used("PAR", date("2026-07-02")), 0);
    // A later ship_by is met (a new key: the refusal is remembered).
    let outcome = allocate_by(&mut w, &id, "2026-07-02");
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    assert_eq!(promised(&w, &id), vec![Some("2026-07-02".into())]);

    // A malformed ship_by names the field; nothing is decided.
    let other = w.reserve_id(&[("MUG", "PAR", 1)]);
    for bad in ["2026-7-1", "2026-02-30", "tomorrow", "2026-07-01T00:00"] {
        let outcome = allocate_by(&mut w, &other, bad);
        assert!(
            matches!(&outcome.result, Err(Rejection::InvalidArgument { field, .. }) if field == "ship_by"),
            "{bad}: {outcome:?}"
        );
    }
}

#[test]
fn the_allocation_event_carries_its_promises() {
    let mut w = world(utc(2026, 1, 15, 9, 0));
    let id = w.reserve_id(&[("MUG", "PAR", 2), ("MUG", "DUB", 1)]);
    w.engine.drain_journal();
    assert!(allocate_by(&mut w, &id, "").is_accepted());
    let events = w.engine.drain_journal();
    let event = events.last().unwrap();
    assert_eq!(event.kind(), "lines_allocated");
    let Change::LinesAllocated {
        promised: dates, ..
    } = &event.change
    else {
        panic!("{event:?}");
    };
    assert_eq!(dates.len(), 1, "DUB has no capacity rule");
    assert_eq!(&*dates[0].location, "PAR");
    assert!(event.to_json().contains("\"date\":\"2026-01-15\""));
    assert_eq!(&Event::decode(&event.encode()).unwrap(), event);
    assert_eq!(promised(&w, &id), vec![Some("2026-01-15".into()), None]);
}

#[test]
fn a_shadow_with_another_cutoff_diverges_in_placement() {
    let mut w = world(utc(2026, 1, 15, 13, 30));
    let candidate = parse(&RULES.replace("15:00", "14:00").replace("cap-1", "cap-2")).unwrap();
    w.engine.set_shadow(Some(candidate));
    let (_, outcome) = allocate(&mut w, "PAR", 1);
    assert_eq!(outcome.reason, ReasonCode::ALLOCATED);
    let kinds: Vec<_> = w
        .engine
        .take_divergences()
        .into_iter()
        .map(|d| (d.kind, d.action))
        .collect();
    assert_eq!(kinds, vec![("placement", "allocate")]);
}

/// Days of allocations, picks, releases and shipments at every location.
fn traffic(w: &mut World, start: i64, days: i64) {
    let mut ids = Vec::new();
    for step in 0..days * 24 {
        w.now = start + step * 3_600_000 + (step % 7) * 60_000;
        let location = ["PAR", "TYO", "LAX", "DUB"][(step % 4) as usize];
        let (id, outcome) = allocate(w, location, 1 + (step % 3) as u64);
        if outcome.is_accepted() {
            ids.push(id);
        } else {
            w.act("release", &id);
        }
        if step % 5 == 0 && ids.len() > 2 {
            let id = ids.remove(0);
            match step % 3 {
                0 => {
                    w.act("release", &id);
                }
                1 => {
                    w.act("pick", &id);
                    w.act("unpick", &id);
                    w.act("release", &id);
                }
                _ => {
                    w.act("pick", &id);
                    w.act("ship", &id);
                }
            }
        }
    }
}

#[test]
fn replay_and_restore_rebuild_the_same_used_capacity() {
    let start = utc(2026, 3, 27, 0, 0); // across Europe's switch to summer time
    let mut live = world(start);
    traffic(&mut live, start, 2);
    let snapshot = live.engine.snapshot();
    let first_half = live.engine.drain_journal();
    let mid = live.now + 3_600_000;
    traffic(&mut live, mid, 2);
    let second_half = live.engine.drain_journal();
    let expected = live.engine.snapshot();
    let reasons: std::collections::BTreeSet<_> = first_half
        .iter()
        .chain(&second_half)
        .map(|e| e.reason)
        .collect();
    assert!(reasons.contains(&ReasonCode::CAPACITY_EXCEEDED));

    let mut from_scratch = Engine::new(Config::default());
    from_scratch.replay(&first_half).unwrap();
    from_scratch.replay(&second_half).unwrap();
    assert_eq!(from_scratch.snapshot(), expected);

    let mut restored = Engine::restore(Config::default(), &snapshot).unwrap();
    restored.replay(&second_half).unwrap();
    assert_eq!(restored.snapshot(), expected);
    restored.check_invariants().unwrap();

    for location in ["PAR", "TYO", "LAX"] {
        for day in 25..=31 {
            let d = date(&format!("2026-03-{day}"));
            let used = live.engine.capacity_used(location, d);
            assert_eq!(from_scratch.capacity_used(location, d), used);
            assert_eq!(restored.capacity_used(location, d), used);
        }
    }
    assert!(live.engine.capacity_used("TYO", date("2026-03-28")) > 0);

    // The restored engine, given the rules back, refuses as the live one does.
    restored
        .install_rules(parse(RULES).unwrap())
        .expect("the active version");
    let mut restored = World::resume(restored, &live);
    let (_, a) = allocate(&mut restored, "TYO", 4);
    let (_, b) = allocate(&mut live, "TYO", 4);
    assert_eq!(a.reason, b.reason);
    assert_eq!(live.engine.snapshot(), restored.engine.snapshot());
}

#[test]
fn capacity_rules_are_validated_with_their_lines() {
    let text = r#"version = "v9"
author = "ana"

[[capacity]]
location = "PAR"
time_zone = "Europe/Pariss"
daily_pick_units = -1
cutoff = "24:00"

[[capacity]]
location = "PAR"
time_zone = "UTC"
cutoff = "9:00"
"#;
    // Each error names the line of its setting.
    let errors = parse(text).unwrap_err();
    let found: Vec<_> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (Some(6), "capacity[0].time_zone"),
            (Some(7), "capacity[0].daily_pick_units"),
            (Some(8), "capacity[0].cutoff"),
            (Some(11), "capacity[1].location"),
            (Some(13), "capacity[1].cutoff"),
        ],
        "{errors:?}"
    );
    assert!(errors[0].message.contains("IANA"), "{}", errors[0]);
    let rules = parse(RULES).unwrap();
    let paris = &rules.capacity["PAR"];
    assert_eq!(paris.daily_pick_units, Some(10));
    assert_eq!(paris.cutoff_text(), "15:00");
    assert_eq!(rules.capacity["LAX"].daily_pick_units, None);
    assert_eq!(rules.capacity["TYO"].cutoff_text(), "");
}
