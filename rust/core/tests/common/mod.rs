//! A small driver around the engine for the integration tests: one tenant,
//! fresh idempotency keys, explicit time.

#![allow(dead_code)]

use holdfast_core::{
    Command, Config, Engine, LineRequest, Meta, Outcome, PositionView, ReasonCode, Request, Target,
};

pub const TENANT: &str = "shop";
pub const T0: i64 = 1_700_000_000_000;

pub struct World {
    pub engine: Engine,
    pub now: i64,
    keys: u64,
}

impl World {
    pub fn new() -> Self {
        World {
            engine: Engine::new(Config::default()),
            now: T0,
            keys: 0,
        }
    }

    /// Carry on with `engine` (say, restored) where `like` is: its time and keys.
    pub fn resume(engine: Engine, like: &World) -> Self {
        World {
            engine,
            now: like.now,
            keys: like.keys,
        }
    }

    pub fn with_stock(sku: &str, location: &str, on_hand: u64) -> Self {
        let mut world = World::new();
        world.stock(sku, location, on_hand);
        world
    }

    pub fn next_key(&mut self) -> String {
        self.keys += 1;
        format!("key-{}", self.keys)
    }

    pub fn request(&mut self, command: Command) -> Request {
        Request {
            meta: Meta::new(TENANT, self.next_key(), "tester", self.now),
            command,
        }
    }

    pub fn run(&mut self, command: Command) -> Outcome {
        let request = self.request(command);
        self.engine.execute(&request)
    }

    pub fn stock(&mut self, sku: &str, location: &str, on_hand: u64) -> Outcome {
        let sequence = self.keys + 1;
        self.run(Command::SetStock {
            sku: sku.into(),
            location: location.into(),
            on_hand,
            source_sequence: sequence,
            as_of: Some(self.now),
        })
    }

    pub fn reserve(&mut self, lines: &[(&str, &str, u64)]) -> Outcome {
        self.run(reserve(lines, false))
    }

    pub fn reserve_id(&mut self, lines: &[(&str, &str, u64)]) -> String {
        let outcome = self.reserve(lines);
        id_of(&outcome)
    }

    pub fn act(&mut self, action: &str, id: &str) -> Outcome {
        self.run(line_command(action, id, Vec::new()))
    }

    pub fn act_lines(&mut self, action: &str, id: &str, lines: &[(&str, &str, u64)]) -> Outcome {
        self.run(line_command(action, id, to_lines(lines)))
    }

    pub fn position(&self, sku: &str, location: &str) -> PositionView {
        self.engine
            .position(sku, location)
            .expect("position exists")
    }

    pub fn available(&self, sku: &str, location: &str) -> i64 {
        self.position(sku, location).available
    }
}

pub fn to_lines(lines: &[(&str, &str, u64)]) -> Vec<LineRequest> {
    lines
        .iter()
        .map(|(sku, location, quantity)| LineRequest::new(*sku, *location, *quantity))
        .collect()
}

pub fn reserve(lines: &[(&str, &str, u64)], allow_partial: bool) -> Command {
    Command::Reserve {
        order_ref: "order-1".into(),
        channel: "web".into(),
        lines: to_lines(lines),
        hold_seconds: 60,
        allow_partial,
        destination_region: String::new(),
    }
}

/// The command for an action on an existing reservation, by name.
pub fn line_command(action: &str, id: &str, lines: Vec<LineRequest>) -> Command {
    let reservation_id = id.to_owned();
    match action {
        "allocate" => Command::Allocate {
            reservation_id,
            lines,
            ship_by: String::new(),
        },
        "release" => Command::Release {
            reservation_id,
            note: String::new(),
        },
        "renew" => Command::RenewHold {
            reservation_id,
            hold_seconds: 60,
        },
        "pick" => Command::ConfirmPick {
            reservation_id,
            lines,
            as_of: Some(T0),
        },
        "unpick" => Command::Unpick {
            reservation_id,
            lines,
        },
        "ship" => Command::ConfirmShipment {
            reservation_id,
            lines,
            as_of: Some(T0),
        },
        "return" => Command::RecordReturn {
            reservation_id,
            lines,
            restock: true,
            as_of: Some(T0),
        },
        "return-damaged" => Command::RecordReturn {
            reservation_id,
            lines,
            restock: false,
            as_of: Some(T0),
        },
        other => panic!("no action {other}"),
    }
}

pub fn id_of(outcome: &Outcome) -> String {
    match &outcome.result {
        Ok(Target::Reservation(id)) => id.to_string(),
        other => panic!("expected a reservation, got {other:?}"),
    }
}

pub fn assert_reason(outcome: &Outcome, reason: ReasonCode) {
    assert_eq!(outcome.reason, reason, "{outcome:?}");
}

/// xorshift64*: a fixed seed gives the same sequence on every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
