//! Decisions under rule sets, with time passed explicitly: hold times per
//! channel, safety stock by pattern, channel caps, each location strategy,
//! splits, the switch between versions, and a shadow candidate.

mod common;

use common::{to_lines, World, T0, TENANT};
use holdfast_core::rules::parse;
use holdfast_core::{Command, Meta, ReasonCode, Rejection, Request, Target};

fn rules(body: &str) -> holdfast_core::rules::RuleSet {
    parse(&format!("version = \"v2\"\nauthor = \"ana\"\n{body}")).expect("valid rules")
}

fn activate(world: &mut World, body: &str) {
    world
        .engine
        .activate_rules(rules(body), "ana", world.now)
        .expect("activated");
}

fn reserve(
    world: &mut World,
    channel: &str,
    lines: &[(&str, &str, u64)],
    destination: &str,
) -> Request {
    let key = world.next_key();
    Request {
        meta: Meta::new(TENANT, key, "tester", world.now),
        command: Command::Reserve {
            order_ref: String::new(),
            channel: channel.to_owned(),
            lines: to_lines(lines),
            hold_seconds: 0,
            allow_partial: false,
            destination_region: destination.to_owned(),
        },
    }
}

/// (location, quantity) of each line of the reservation an outcome made.
fn placed(world: &World, outcome: &holdfast_core::Outcome) -> Vec<(String, u64)> {
    let Ok(Target::Reservation(id)) = &outcome.result else {
        panic!("not a reservation: {outcome:?}");
    };
    let view = world.engine.reservation(TENANT, &id.to_string()).unwrap();
    view.lines
        .iter()
        .map(|l| (l.location.to_string(), l.quantity))
        .collect()
}

fn warehouses() -> World {
    let mut world = World::new();
    world.stock("MUG", "W1", 5);
    world.stock("MUG", "W2", 8);
    world.stock("MUG", "W3", 3);
    world
}

#[test]
fn decisions_record_the_version_that_decided_them() {
    let mut world = warehouses();
    let before = world.reserve(&[("MUG", "", 1)]);
    assert_eq!(&*before.rule_version, "builtin-1");
    activate(&mut world, "");
    let after = world.reserve(&[("MUG", "", 1)]);
    assert_eq!(&*after.rule_version, "v2");
    assert_eq!(world.engine.rule_version(), "v2");
}

#[test]
fn hold_times_per_channel() {
    let mut world = warehouses();
    activate(
        &mut world,
        "[holds]\ndefault_seconds = 600\nmax_seconds = 3600\n[holds.channels.web]\ndefault_seconds = 120\nmax_seconds = 300\n",
    );
    let web = reserve(&mut world, "web", &[("MUG", "W1", 1)], "");
    let outcome = world.engine.execute(&web);
    let id = match outcome.result.unwrap() {
        Target::Reservation(id) => id.to_string(),
        Target::Position { .. } => unreachable!(),
    };
    let view = world.engine.reservation(TENANT, &id).unwrap();
    assert_eq!(view.expires_at, T0 + 120_000);

    let phone = reserve(&mut world, "phone", &[("MUG", "W1", 1)], "");
    let outcome = world.engine.execute(&phone);
    let Ok(Target::Reservation(id)) = outcome.result else {
        panic!()
    };
    let view = world.engine.reservation(TENANT, &id.to_string()).unwrap();
    assert_eq!(view.expires_at, T0 + 600_000);

    // Past the channel's longest: refused naming the field, nothing stored.
    let mut long = reserve(&mut world, "web", &[("MUG", "W1", 1)], "");
    if let Command::Reserve { hold_seconds, .. } = &mut long.command {
        *hold_seconds = 301;
    }
    let refused = world.engine.execute(&long);
    assert_eq!(refused.reason, ReasonCode::INVALID_ARGUMENT);
    assert_eq!(
        refused.result.unwrap_err(),
        Rejection::InvalidArgument {
            field: "hold_seconds".into(),
            reason: "must be at most 300 seconds for channel \"web\"".into()
        }
    );
    let again = world.engine.execute(&long);
    assert!(!again.replayed, "a refused limit is not remembered");
}

#[test]
fn safety_stock_by_pattern_keeps_units_back() {
    let mut world = warehouses();
    activate(
        &mut world,
        "[[safety_stock]]\nlocation = \"W1\"\nsku = \"MU?\"\nquantity = 4\n",
    );
    // Availability says what a reserve may take: the rules' 4 kept back.
    let w1 = world.engine.position("MUG", "W1").unwrap();
    assert_eq!((w1.safety_stock, w1.available), (4, 1));
    let w3 = world.engine.position("MUG", "W3").unwrap();
    assert_eq!((w3.safety_stock, w3.available), (0, 3));
    let refused = world.reserve(&[("MUG", "W1", 2)]);
    assert_eq!(
        refused.result.unwrap_err(),
        Rejection::InsufficientStock {
            sku: "MUG".into(),
            location: "W1".into(),
            requested: 2,
            available: 1
        }
    );
    assert_eq!(
        world.reserve(&[("MUG", "W1", 1)]).reason,
        ReasonCode::RESERVED
    );
    // Another location is not matched.
    assert_eq!(
        world.reserve(&[("MUG", "W3", 3)]).reason,
        ReasonCode::RESERVED
    );
}

#[test]
fn channel_caps_in_units_and_percent() {
    let mut world = warehouses();
    activate(
        &mut world,
        "[[channel_caps]]\nchannel = \"marketplace\"\nmax_units = 4\n[[channel_caps]]\nchannel = \"outlet\"\nmax_percent = 25\n",
    );
    let first = reserve(&mut world, "marketplace", &[("MUG", "W2", 3)], "");
    assert_eq!(world.engine.execute(&first).reason, ReasonCode::RESERVED);
    let second = reserve(&mut world, "marketplace", &[("MUG", "W2", 2)], "");
    let refused = world.engine.execute(&second);
    assert_eq!(refused.reason, ReasonCode::CHANNEL_CAP_REACHED);
    assert_eq!(
        refused.result.unwrap_err(),
        Rejection::ChannelCapReached {
            channel: "marketplace".into(),
            sku: "MUG".into(),
            location: "W2".into(),
            cap: 4,
            committed: 3,
            requested: 2
        }
    );
    // Other channels are not capped; 25 % of 8 on hand is 2 for the outlet.
    let web = reserve(&mut world, "web", &[("MUG", "W2", 2)], "");
    assert_eq!(world.engine.execute(&web).reason, ReasonCode::RESERVED);
    let outlet = reserve(&mut world, "outlet", &[("MUG", "W2", 3)], "");
    assert_eq!(
        world.engine.execute(&outlet).reason,
        ReasonCode::CHANNEL_CAP_REACHED
    );
}

#[test]
fn each_strategy_chooses_its_location() {
    // W1: 5, W2: 8, W3: 3 available.
    let cases = [
        ("", vec![("W2".to_owned(), 4)]),
        (
            "[allocation]\nstrategy = \"priority\"\npriority = [\"W3\", \"W1\"]\n",
            vec![("W1".to_owned(), 4)],
        ),
        (
            "[allocation]\nstrategy = \"fewest_splits\"\n",
            vec![("W2".to_owned(), 4)],
        ),
        (
            "[allocation]\nstrategy = \"nearest\"\n[allocation.nearest]\neu-south = [\"W3\", \"W1\", \"W2\"]\n",
            vec![("W1".to_owned(), 4)],
        ),
    ];
    for (body, expected) in cases {
        let mut world = warehouses();
        activate(&mut world, body);
        let request = reserve(&mut world, "web", &[("MUG", "", 4)], "eu-south");
        let outcome = world.engine.execute(&request);
        assert_eq!(placed(&world, &outcome), expected, "{body}");
    }
}

#[test]
fn splits_only_when_allowed() {
    let mut world = warehouses();
    activate(
        &mut world,
        "[allocation]\nstrategy = \"priority\"\npriority = [\"W3\", \"W1\", \"W2\"]\nallow_split = true\n",
    );
    let request = reserve(&mut world, "web", &[("MUG", "", 10)], "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [
            ("W3".to_owned(), 3),
            ("W1".to_owned(), 5),
            ("W2".to_owned(), 2)
        ]
    );
    // The fewest splits: the largest first.
    let mut world = warehouses();
    activate(
        &mut world,
        "[allocation]\nstrategy = \"fewest_splits\"\nallow_split = true\n",
    );
    let request = reserve(&mut world, "web", &[("MUG", "", 10)], "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [("W2".to_owned(), 8), ("W1".to_owned(), 2)]
    );
    // Without splits, 10 fits nowhere.
    let mut world = warehouses();
    let refused = world.reserve(&[("MUG", "", 10)]);
    assert_eq!(refused.reason, ReasonCode::INSUFFICIENT_STOCK);
}

#[test]
fn fewest_splits_ships_a_request_from_as_few_locations_as_it_can() {
    // TEE: W1 2, W2 12, W3 5; CUP: W1 10, W2 3. W1 and W2 can each ship
    // both lines; W2 has more of them in all.
    let stocked = || {
        let mut world = World::new();
        world.stock("TEE", "W1", 2);
        world.stock("TEE", "W2", 12);
        world.stock("TEE", "W3", 5);
        world.stock("CUP", "W1", 10);
        world.stock("CUP", "W2", 3);
        world
    };
    let lines = [("TEE", "", 2), ("CUP", "", 2)];
    // Most available takes each line where most is: two locations.
    let mut world = stocked();
    let request = reserve(&mut world, "web", &lines, "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [("W2".to_owned(), 2), ("W1".to_owned(), 2)]
    );
    // Fewest splits ships both from one.
    let mut world = stocked();
    activate(&mut world, "[allocation]\nstrategy = \"fewest_splits\"\n");
    let request = reserve(&mut world, "web", &lines, "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [("W2".to_owned(), 2), ("W2".to_owned(), 2)]
    );
    // When CUP can only come from W1, TEE follows it there.
    let mut world = stocked();
    activate(&mut world, "[allocation]\nstrategy = \"fewest_splits\"\n");
    let request = reserve(&mut world, "web", &[("TEE", "", 2), ("CUP", "", 5)], "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [("W1".to_owned(), 2), ("W1".to_owned(), 5)]
    );
    // A line named at a location counts as taken from there.
    let mut world = stocked();
    activate(&mut world, "[allocation]\nstrategy = \"fewest_splits\"\n");
    let request = reserve(&mut world, "web", &[("CUP", "W1", 1), ("TEE", "", 2)], "");
    let outcome = world.engine.execute(&request);
    assert_eq!(
        placed(&world, &outcome),
        [("W1".to_owned(), 1), ("W1".to_owned(), 2)]
    );
}

#[test]
fn a_shadow_decides_beside_with_no_effect() {
    let mut world = warehouses();
    world.engine.set_shadow(Some(rules(
        "[allocation]\nstrategy = \"priority\"\npriority = [\"W3\"]\n[[channel_caps]]\nchannel = \"web\"\nmax_units = 1\n",
    )));
    let request = reserve(&mut world, "phone", &[("MUG", "", 2)], "");
    let outcome = world.engine.execute(&request);
    assert_eq!(placed(&world, &outcome), [("W2".to_owned(), 2)]);
    let request = reserve(&mut world, "web", &[("MUG", "W1", 2)], "");
    assert_eq!(world.engine.execute(&request).reason, ReasonCode::RESERVED);
    let divergences = world.engine.take_divergences();
    let kinds: Vec<_> = divergences.iter().map(|d| (d.kind, d.candidate)).collect();
    assert_eq!(
        kinds,
        [
            ("placement", ReasonCode::RESERVED),
            ("outcome", ReasonCode::CHANNEL_CAP_REACHED)
        ]
    );
    assert!(world.engine.take_divergences().is_empty());
    assert_eq!(world.engine.rule_version(), "builtin-1");
}

#[test]
fn the_active_version_survives_a_restore_and_needs_its_body() {
    let mut world = warehouses();
    activate(
        &mut world,
        "[[channel_caps]]\nchannel = \"web\"\nmax_units = 1\n",
    );
    let request = reserve(&mut world, "web", &[("MUG", "W1", 1)], "");
    world.engine.execute(&request);
    let snapshot = world.engine.snapshot();
    let mut restored =
        holdfast_core::Engine::restore(holdfast_core::Config::default(), &snapshot).unwrap();
    assert_eq!(restored.rule_version(), "v2");
    let wrong = parse("version = \"v3\"\nauthor = \"a\"\n").unwrap();
    assert!(restored.install_rules(wrong).is_err());
    restored
        .install_rules(rules(
            "[[channel_caps]]\nchannel = \"web\"\nmax_units = 1\n",
        ))
        .unwrap();
    // The cap index was rebuilt from the reservations: web has its 1.
    let request = Request {
        meta: Meta::new(TENANT, "after-restore", "tester", world.now),
        command: Command::Reserve {
            order_ref: String::new(),
            channel: "web".into(),
            lines: to_lines(&[("MUG", "W1", 1)]),
            hold_seconds: 0,
            allow_partial: false,
            destination_region: String::new(),
        },
    };
    assert_eq!(
        restored.execute(&request).reason,
        ReasonCode::CHANNEL_CAP_REACHED
    );
}
