//! A hold decided without the feasibility check is marked unverified, and
//! the mark is a journaled fact: replays, restores and snapshots keep it.

mod common;

use common::{World, TENANT};
use holdfast_core::{
    Change, Command, Config, Engine, Event, LineRequest, Meta, Outcome, Request, Target,
};

fn reserve(world: &World, key: &str, unverified: bool) -> Request {
    let mut meta = Meta::new(TENANT, key, "tester", world.now);
    meta.unverified = unverified;
    Request {
        meta,
        command: Command::Reserve {
            order_ref: "o-1".into(),
            channel: "web".into(),
            lines: vec![LineRequest::new("MUG", "W1", 2)],
            hold_seconds: 0,
            allow_partial: false,
            destination_region: String::new(),
        },
    }
}

fn unverified(engine: &Engine, outcome: &Outcome) -> bool {
    let Ok(Target::Reservation(id)) = &outcome.result else {
        panic!("not a reservation: {outcome:?}");
    };
    engine
        .reservation(TENANT, &id.to_string())
        .expect("held")
        .unverified
}

#[test]
fn the_mark_is_kept_and_replayed_whatever_the_retry_says() {
    let mut world = World::with_stock("MUG", "W1", 10);
    let held = {
        let request = reserve(&world, "k-1", true);
        world.engine.execute(&request)
    };
    assert!(unverified(&world.engine, &held));
    // The retry's check passed this time: the answer is still the first one.
    world.now += 1_000;
    let replay = {
        let request = reserve(&world, "k-1", false);
        world.engine.execute(&request)
    };
    assert!(replay.replayed, "{replay:?}");
    assert!(unverified(&world.engine, &replay));
    // And a verified hold is not marked.
    let verified = {
        let request = reserve(&world, "k-2", false);
        world.engine.execute(&request)
    };
    assert!(!unverified(&world.engine, &verified));
}

#[test]
fn replay_and_restore_keep_the_mark() {
    let mut world = World::with_stock("MUG", "W1", 10);
    world.engine.drain_journal();
    let snapshot = world.engine.snapshot();
    let held = {
        let request = reserve(&world, "k-1", true);
        world.engine.execute(&request)
    };
    let events = world.engine.drain_journal();
    let encoded: Vec<Vec<u8>> = events.iter().map(Event::encode).collect();
    let decoded: Vec<Event> = encoded.iter().map(|b| Event::decode(b).unwrap()).collect();
    assert_eq!(decoded, events);

    let mut replayed = Engine::restore(Config::default(), &snapshot).unwrap();
    replayed.replay(&decoded).unwrap();
    assert!(unverified(&replayed, &held));
    let restored = Engine::restore(Config::default(), &world.engine.snapshot()).unwrap();
    assert!(unverified(&restored, &held));
    assert_eq!(restored.snapshot(), world.engine.snapshot());
}

#[test]
fn a_hold_journaled_before_the_mark_reads_as_verified() {
    let mut world = World::with_stock("MUG", "W1", 10);
    world.engine.drain_journal();
    {
        let request = reserve(&world, "k-1", false);
        world.engine.execute(&request)
    };
    let event = world.engine.drain_journal().remove(0);
    assert!(matches!(event.change, Change::HoldPlaced { .. }));
    // The old layout is the same bytes without the last flag.
    let mut old = event.encode();
    assert_eq!(old.pop(), Some(0));
    assert_eq!(Event::decode(&old).unwrap(), event);
    // Cut anywhere else, an event is still refused.
    assert!(Event::decode(&old[..old.len() - 1]).is_err());
}
