//! Batch answers encoded here, not as Python protobuf objects.
//!
//! Building one `OperationResult` per operation in Python took most of a
//! batch call's time (py-spy: 58% in `_fill_result`); the same messages
//! encoded with prost from the engine's views cost a fraction of it. The
//! structs mirror `proto/holdfast/v1/inventory.proto` field for field (tags
//! and types); `tests/server/test_server_wire.py` decodes what they encode
//! with the generated Python classes and compares it with the messages
//! `holdfast.convert` builds, so a drift fails a test.
//!
//! Only answers are encoded here. Refusals keep their one home in Python
//! (`holdfast.errors.status_of`), and requests are still read by
//! `holdfast.convert`, which refuses what the core cannot represent.

use holdfast_core::engine::{Outcome, PositionView, ReservationView, Target};
use holdfast_core::feasibility;
use holdfast_core::state::{LineState, Owner};
use holdfast_core::Engine;
use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[derive(Clone, PartialEq, Message)]
pub struct ReservationLine {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(string, tag = "2")]
    pub location: String,
    #[prost(int64, tag = "3")]
    pub quantity: i64,
    #[prost(int32, tag = "4")]
    pub state: i32,
    #[prost(string, tag = "5")]
    pub promised_ship_date: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct HistoryEntry {
    #[prost(string, tag = "1")]
    pub action: String,
    #[prost(int32, tag = "2")]
    pub from_state: i32,
    #[prost(int32, tag = "3")]
    pub to_state: i32,
    #[prost(message, optional, tag = "4")]
    pub at: Option<Timestamp>,
    #[prost(string, tag = "5")]
    pub actor: String,
    #[prost(int32, tag = "6")]
    pub reason: i32,
    #[prost(string, tag = "7")]
    pub rule_version: String,
    #[prost(string, tag = "8")]
    pub idempotency_key: String,
}

#[derive(Clone, PartialEq, Message)]
pub struct Reservation {
    #[prost(string, tag = "1")]
    pub reservation_id: String,
    #[prost(string, tag = "2")]
    pub order_ref: String,
    #[prost(string, tag = "3")]
    pub channel: String,
    #[prost(int32, tag = "4")]
    pub state: i32,
    #[prost(message, repeated, tag = "5")]
    pub lines: Vec<ReservationLine>,
    #[prost(message, optional, tag = "6")]
    pub created_at: Option<Timestamp>,
    #[prost(message, optional, tag = "7")]
    pub expires_at: Option<Timestamp>,
    #[prost(string, tag = "8")]
    pub rule_version: String,
    #[prost(message, repeated, tag = "9")]
    pub history: Vec<HistoryEntry>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StockPosition {
    #[prost(string, tag = "1")]
    pub sku: String,
    #[prost(string, tag = "2")]
    pub location: String,
    #[prost(int64, tag = "3")]
    pub on_hand: i64,
    #[prost(int64, tag = "4")]
    pub reserved: i64,
    #[prost(int64, tag = "5")]
    pub allocated: i64,
    #[prost(int64, tag = "6")]
    pub picked: i64,
    #[prost(int64, tag = "7")]
    pub safety_stock: i64,
    #[prost(int64, tag = "8")]
    pub available: i64,
    #[prost(uint64, tag = "9")]
    pub source_sequence: u64,
    #[prost(message, optional, tag = "10")]
    pub as_of: Option<Timestamp>,
    #[prost(message, optional, tag = "11")]
    pub received_at: Option<Timestamp>,
    #[prost(message, optional, tag = "12")]
    pub overcommitted_since: Option<Timestamp>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Decision {
    #[prost(int32, tag = "1")]
    pub reason: i32,
    #[prost(message, optional, tag = "2")]
    pub decided_at: Option<Timestamp>,
    #[prost(message, optional, tag = "3")]
    pub committed_at: Option<Timestamp>,
    #[prost(string, tag = "4")]
    pub rule_version: String,
    #[prost(int32, tag = "5")]
    pub owner: i32,
    #[prost(bool, tag = "6")]
    pub replayed: bool,
    #[prost(string, repeated, tag = "7")]
    pub unverified: Vec<String>,
}

/// `ReserveResponse` and `ReservationResponse` have the same fields.
#[derive(Clone, PartialEq, Message)]
pub struct ReservationAnswer {
    #[prost(message, optional, tag = "1")]
    pub reservation: Option<Reservation>,
    #[prost(message, optional, tag = "2")]
    pub decision: Option<Decision>,
}

#[derive(Clone, PartialEq, Message)]
pub struct StockResponse {
    #[prost(message, optional, tag = "1")]
    pub position: Option<StockPosition>,
    #[prost(message, optional, tag = "2")]
    pub decision: Option<Decision>,
}

/// `OperationResult`'s answers (its `error` is encoded in Python).
#[derive(Clone, PartialEq, Message)]
pub struct OperationResult {
    #[prost(message, optional, tag = "1")]
    pub reserve: Option<ReservationAnswer>,
    #[prost(message, optional, tag = "2")]
    pub reservation: Option<ReservationAnswer>,
    #[prost(message, optional, tag = "3")]
    pub stock: Option<StockResponse>,
}

pub fn timestamp(ms: i64) -> Timestamp {
    let (seconds, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    Timestamp {
        seconds,
        nanos: i32::try_from(millis * 1_000_000).expect("under a second"),
    }
}

fn state(state: Option<LineState>) -> i32 {
    state.map_or(0, |s| s as i32)
}

fn saturated(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub fn reservation(view: &ReservationView) -> Reservation {
    Reservation {
        reservation_id: view.id.to_string(),
        order_ref: view.order_ref.clone(),
        channel: view.channel.to_string(),
        state: state(Some(view.state)),
        lines: (view.lines.iter())
            .map(|line| ReservationLine {
                sku: line.sku.to_string(),
                location: line.location.to_string(),
                quantity: saturated(line.quantity),
                state: state(Some(line.state)),
                promised_ship_date: line
                    .promised_ship_date
                    .map(|d| d.to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        created_at: Some(timestamp(view.created_at)),
        expires_at: Some(timestamp(view.expires_at)),
        rule_version: view.rule_version.to_string(),
        history: (view.history.iter())
            .map(|entry| HistoryEntry {
                action: entry.action.name().to_owned(),
                from_state: state(entry.from),
                to_state: state(Some(entry.to)),
                at: Some(timestamp(entry.at)),
                actor: entry.actor.to_string(),
                reason: entry.reason as i32,
                rule_version: entry.rule_version.to_string(),
                idempotency_key: entry.idempotency_key.as_deref().unwrap_or("").to_owned(),
            })
            .collect(),
    }
}

pub fn position(view: &PositionView) -> StockPosition {
    StockPosition {
        sku: view.sku.to_string(),
        location: view.location.to_string(),
        on_hand: saturated(view.on_hand),
        reserved: saturated(view.reserved),
        allocated: saturated(view.allocated),
        picked: saturated(view.picked),
        safety_stock: saturated(view.safety_stock),
        available: view.available,
        source_sequence: view.source_sequence.unwrap_or(0),
        as_of: view.as_of.map(timestamp),
        received_at: view.received_at.map(timestamp),
        overcommitted_since: view.overcommitted_since.map(timestamp),
    }
}

/// The decision; `committed_at` is its decision time unless the caller adds
/// the commit's own after the commit (then it is left out here: a merged
/// Timestamp keeps fields the second one does not set).
pub fn decision(outcome: &Outcome, committed_later: bool) -> Decision {
    Decision {
        reason: outcome.reason as i32,
        decided_at: Some(timestamp(outcome.decided_at)),
        committed_at: (!committed_later).then(|| timestamp(outcome.decided_at)),
        rule_version: outcome.rule_version.to_string(),
        owner: match outcome.owner {
            Owner::Holdfast => 1,
            Owner::Warehouse => 2,
        },
        replayed: outcome.replayed,
        unverified: Vec::new(),
    }
}

/// The encoded `OperationResult` of an accepted outcome (`None` for a
/// refusal); `answer`: 0 `reserve`, 1 `reservation`, 2 `stock`.
pub fn operation_result(
    engine: &Engine,
    tenant: &str,
    outcome: &Outcome,
    answer: u8,
    committed_later: bool,
) -> Option<Vec<u8>> {
    let target = outcome.result.as_ref().ok()?;
    let decision = Some(decision(outcome, committed_later));
    let mut result = OperationResult::default();
    match target {
        Target::Position { sku, location } => {
            let position = engine.position(sku, location).map(|v| position(&v));
            result.stock = Some(StockResponse { position, decision });
        }
        Target::Reservation(id) => {
            let view = engine.reservation(tenant, &id.to_string()).ok();
            let mut decision = decision;
            // The reserve that held without the check, and its replays, say so.
            if let (0, Some(d), Some(v)) = (answer, decision.as_mut(), view.as_ref()) {
                if v.unverified {
                    d.unverified.push(feasibility::DEPENDENCY.to_owned());
                }
            }
            let answered = ReservationAnswer {
                reservation: view.as_ref().map(reservation),
                decision,
            };
            if answer == 0 {
                result.reserve = Some(answered);
            } else {
                result.reservation = Some(answered);
            }
        }
    }
    Some(result.encode_to_vec())
}
