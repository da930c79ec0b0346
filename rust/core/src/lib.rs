//! holdfast-core: every commitment decision holdfast makes, in one place.
//!
//! Pure Rust: no clock, no files, no sockets, no Python. Callers pass `now`
//! with every request and drain the journal of events the decisions produce.

pub mod breaker;
pub mod command;
pub mod engine;
pub mod error;
pub mod event;
pub mod feasibility;
pub mod idempotency;
pub mod ids;
pub mod limits;
pub mod position;
pub mod reason;
pub mod reservation;
pub mod rules;
pub mod ship_date;
pub mod state;
pub mod symbols;

pub use command::{Command, LineRequest, Meta, Request};
pub use engine::{
    Config, Engine, HistoryView, LineView, Outcome, PositionView, ReservationView, SnapshotError,
    Target, SYSTEM_ACTOR,
};
pub use error::Rejection;
pub use event::{Change, Event};
pub use ids::ReservationId;
pub use reason::{GrpcStatus, ReasonCode, ReasonInfo, CATALOGUE};
pub use ship_date::ShipDate;
pub use state::{Action, LineState, Owner};
