//! The engine: one state, one decision at a time.
//!
//! Every request goes through the same pipeline:
//!
//! 1. validate the request against the hard limits (a malformed request is
//!    refused and nothing is stored);
//! 2. sweep holds that are due at `now` (expiry is honoured before anything
//!    else looks at stock);
//! 3. look up the idempotency key: a live record with the same fingerprint is
//!    replayed, with another fingerprint it is `IDEMPOTENCY_KEY_REUSED`;
//! 4. decide: check the guards and turn the command into a change (no state
//!    is touched until the decision is complete, so nothing fails half-way);
//! 5. apply the change as a journal event, through the code replay uses.

mod apply;
mod audit;
mod capacity;
mod decide;
mod expiry;
mod invariants;
mod placement;
mod propose;
mod quota;
mod rule_sets;
mod snapshot;
mod validate;
mod view;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use smallvec::SmallVec;
use xxhash_rust::xxh3::xxh3_64;

use crate::command::{Command, Meta, Request};
use crate::error::Rejection;
use crate::event::{Change, Event};
use crate::idempotency::{
    IdempotencyRecord, IdempotencyTable, ReservationSlot, StoredOutcome, Subject,
};
use crate::ids::ReservationId;
use crate::position::{Position, PositionIndex};
use crate::reason::ReasonCode;
use crate::reservation::Reservation;
use crate::rules::RuleSet;
use crate::state::Owner;
use crate::symbols::{Sym, Symbols};

pub use audit::AuditDifference;
pub use propose::{Headroom, Object, Plan, PositionDelta};
pub use rule_sets::{Divergence, DIVERGENCE_KINDS};
pub use snapshot::SnapshotError;
pub use view::{HistoryView, LineView, PositionView, ReservationView};

/// Units promised per (location, local ship date).
type ShipCapacity = HashMap<(Sym, crate::ship_date::ShipDate), u64>;

/// What one tenant holds now: reservations with a line still RESERVED, and
/// the units in those lines (for the tenant caps).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TenantHolds {
    pub open_holds: u64,
    pub held_units: u64,
}

/// The actor named on changes the engine makes by itself (expiry, retention).
pub const SYSTEM_ACTOR: &str = "holdfast";

/// Settings that are not state: they come from configuration at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Hold time when a reserve asks for none.
    pub default_hold_ms: i64,
    /// Longest hold a reserve or renewal may ask for.
    pub max_hold_ms: i64,
    /// How long an idempotency key is remembered after its decision.
    pub idempotency_retention_ms: i64,
    /// Distinguishes the ids minted by different engines (replicas); at most
    /// `ids::MAX_NODE_ID`.
    pub node_id: u32,
    /// The rule-set version a fresh engine starts with.
    pub initial_rule_version: String,
    /// Most holds one tenant may have open at once (`None`: no cap).
    pub tenant_max_open_holds: Option<u64>,
    /// Most units one tenant may hold (reserved, not yet allocated) at once
    /// (`None`: no cap).
    pub tenant_max_held_units: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_hold_ms: 15 * 60 * 1000,
            max_hold_ms: 24 * 60 * 60 * 1000,
            idempotency_retention_ms: 24 * 60 * 60 * 1000,
            node_id: 0,
            initial_rule_version: "builtin-1".to_owned(),
            tenant_max_open_holds: None,
            tenant_max_held_units: None,
        }
    }
}

/// What a decision was about, as callers name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Reservation(ReservationId),
    Position { sku: Arc<str>, location: Arc<str> },
}

/// A request's new decision, as its event; or the answer it gets without one.
pub(crate) enum Decision {
    New(Event),
    Answered(Outcome),
}

/// The answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub reason: ReasonCode,
    pub decided_at: i64,
    pub rule_version: Arc<str>,
    /// This is the stored outcome of an earlier request with the same key.
    pub replayed: bool,
    /// Who owns this kind of decision.
    pub owner: Owner,
    pub result: Result<Target, Rejection>,
}

impl Outcome {
    pub fn is_accepted(&self) -> bool {
        self.result.is_ok()
    }
}

pub struct Engine {
    config: Config,
    symbols: Symbols,
    positions: Vec<Position>,
    position_index: HashMap<(Sym, Sym), PositionIndex>,
    /// Where each SKU is stocked, in the order positions were created.
    sku_positions: HashMap<Sym, SmallVec<[PositionIndex; 2]>>,
    /// Locations with at least one position.
    locations: HashMap<Sym, ()>,
    /// Append-only: a reservation keeps its slot for its whole life.
    reservations: Vec<Reservation>,
    reservation_index: HashTable<ReservationSlot>,
    id_hasher: DefaultHashBuilder,
    /// Due times of holds, soonest first. Entries of renewed or finished
    /// holds are left in place and skipped when they come up.
    expiry: BinaryHeap<Reverse<(i64, ReservationSlot)>>,
    idempotency: IdempotencyTable,
    rule_version: Sym,
    /// The rule set deciding now (its version is `rule_version` once the
    /// host has installed it after a restore).
    rules: Arc<RuleSet>,
    /// A candidate rule set decided beside the active one, with no effect.
    shadow: Option<Arc<RuleSet>>,
    /// Where the shadow decided otherwise, since the caller last took them.
    divergences: Vec<Divergence>,
    /// New decisions decided under the shadow too, since it was set.
    shadow_decisions: u64,
    /// Units each channel holds, has allocated or picked at each position
    /// (for channel caps); derived from the reservations, not snapshotted.
    channel_units: HashMap<(PositionIndex, Sym), u64>,
    /// Units promised to ship from each location on each local day (for
    /// daily pick capacity); derived from the lines, not snapshotted.
    ship_capacity: ShipCapacity,
    /// Open holds and held units per tenant (for the tenant caps); derived
    /// from the reservations, not snapshotted.
    tenant_holds: HashMap<Sym, TenantHolds>,
    next_seq: u64,
    /// Reservation ids minted so far (the counter in each new id).
    minted: u64,
    journal: Vec<Event>,
    fingerprint_buffer: Vec<u8>,
    /// Holds expired by sweeps since the caller last took the count: for
    /// metrics, not state (not in snapshots, not touched by replay).
    expired_untaken: u64,
}

impl Engine {
    pub fn new(config: Config) -> Self {
        let mut symbols = Symbols::default();
        let rule_version = symbols.intern(&Arc::from(config.initial_rule_version.as_str()));
        let rules = Arc::new(RuleSet::builtin(
            &config.initial_rule_version,
            config.default_hold_ms,
            config.max_hold_ms,
        ));
        Engine {
            config,
            symbols,
            positions: Vec::new(),
            position_index: HashMap::new(),
            sku_positions: HashMap::new(),
            locations: HashMap::new(),
            reservations: Vec::new(),
            reservation_index: HashTable::new(),
            id_hasher: DefaultHashBuilder::default(),
            expiry: BinaryHeap::new(),
            idempotency: IdempotencyTable::default(),
            rule_version,
            rules,
            shadow: None,
            divergences: Vec::new(),
            shadow_decisions: 0,
            channel_units: HashMap::new(),
            ship_capacity: ShipCapacity::new(),
            tenant_holds: HashMap::new(),
            next_seq: 1,
            minted: 0,
            journal: Vec::new(),
            fingerprint_buffer: Vec::new(),
            expired_untaken: 0,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Decide one request. See the module documentation for the pipeline.
    pub fn execute(&mut self, request: &Request) -> Outcome {
        let outcome = self.decide_and_apply(request);
        self.debug_check();
        outcome
    }

    /// Decide many requests in order; one outcome each.
    pub fn execute_batch(&mut self, requests: &[Request]) -> Vec<Outcome> {
        requests
            .iter()
            .map(|request| self.execute(request))
            .collect()
    }

    /// Whether executing `request` would make a new decision. It would not
    /// when its limits refuse it, or when its idempotency key is live (the
    /// stored outcome is replayed, or the key's reuse refused): such a
    /// request must not wait on, nor be judged by, a dependency that a new
    /// decision asks first (the feasibility check).
    pub fn would_decide(&self, request: &Request) -> bool {
        let meta = &request.meta;
        if validate::request(request).is_err() {
            return false;
        }
        self.live_record(meta).is_none()
    }

    /// The idempotency record of the request's key, while it is retained.
    fn live_record(&self, meta: &Meta) -> Option<&IdempotencyRecord> {
        let tenant = self.symbols.get(&meta.tenant)?;
        let record = self.idempotency.get(tenant, &meta.idempotency_key)?;
        (record.decided_at + self.config.idempotency_retention_ms > meta.now).then_some(record)
    }

    fn decide_and_apply(&mut self, request: &Request) -> Outcome {
        let meta = &request.meta;
        let owner = request.command.action().owner();
        if let Err(rejection) = validate::request(request) {
            return self.refusal(meta.now, owner, rejection);
        }
        self.sweep(meta.now);
        let event = match self.decision(request, owner) {
            Decision::New(event) => event,
            Decision::Answered(answer) => return answer,
        };
        let reason = event.reason;
        let subject = self.commit(event, None);
        let event = self.journal.last().expect("just committed");
        let result = match (&event.change, subject) {
            (Change::Rejected { rejection }, _) => Err(rejection.clone()),
            (_, Some(subject)) => Ok(self.target(subject)),
            (_, None) => unreachable!("every decided change has a subject"),
        };
        Outcome {
            reason,
            decided_at: meta.now,
            rule_version: event.rule_version.clone(),
            replayed: false,
            owner,
            result,
        }
    }

    /// Steps 3 and 4 of the pipeline (after validation and the sweep): the
    /// request's event, numbered as the next, not yet applied; or the answer
    /// when there is no new decision to make (a replay, a reused key, a
    /// limit of the active rules). The shadow candidate decides it too.
    fn decision(&mut self, request: &Request, owner: Owner) -> Decision {
        let meta = &request.meta;
        let fingerprint = self.fingerprint(&request.command);
        if let Some(outcome) = self.recall(request, fingerprint, owner) {
            return Decision::Answered(outcome);
        }
        let decided = self.decide(request, &self.rules);
        if let Err(rejection) = &decided {
            if !rejection.is_decision() {
                // A limit of the active rules (a hold past the channel's
                // longest): refused like a malformed request, never stored.
                return Decision::Answered(self.refusal(meta.now, owner, rejection.clone()));
            }
        }
        if let Some(candidate) = &self.shadow {
            self.shadow_decisions += 1;
            let shadowed = self.decide(request, candidate);
            if let Some(divergence) = Divergence::between(request, &decided, &shadowed) {
                self.divergences.push(divergence);
            }
        }
        let (reason, change) = match decided {
            Ok(decided) => decided,
            Err(rejection) => (rejection.reason(), Change::Rejected { rejection }),
        };
        Decision::New(Event {
            seq: self.next_seq,
            at: meta.now,
            tenant: self.symbols.share(&meta.tenant),
            actor: self.symbols.share(&meta.actor),
            idempotency_key: Some(Arc::from(meta.idempotency_key.as_str())),
            fingerprint,
            rule_version: self.symbols.name(self.rule_version).clone(),
            reason,
            change,
        })
    }

    /// A refusal that is not a decision: nothing is stored for it.
    fn refusal(&self, now: i64, owner: Owner, rejection: Rejection) -> Outcome {
        Outcome {
            reason: rejection.reason(),
            decided_at: now,
            rule_version: self.symbols.name(self.rule_version).clone(),
            replayed: false,
            owner,
            result: Err(rejection),
        }
    }

    /// The stored outcome for this key, if the key is live.
    fn recall(&self, request: &Request, fingerprint: u64, owner: Owner) -> Option<Outcome> {
        let meta = &request.meta;
        let record = self.live_record(meta)?;
        if record.fingerprint != fingerprint {
            return Some(self.refusal(
                meta.now,
                owner,
                Rejection::IdempotencyKeyReused {
                    idempotency_key: meta.idempotency_key.clone(),
                },
            ));
        }
        let (reason, result) = match &record.outcome {
            StoredOutcome::Accepted { reason, subject } => (*reason, Ok(self.target(*subject))),
            StoredOutcome::Rejected(rejection) => (rejection.reason(), Err((**rejection).clone())),
        };
        Some(Outcome {
            reason,
            decided_at: record.decided_at,
            rule_version: self.symbols.name(record.rule_version).clone(),
            replayed: true,
            owner,
            result,
        })
    }

    fn target(&self, subject: Subject) -> Target {
        match subject {
            Subject::Reservation(slot) => Target::Reservation(self.reservations[slot as usize].id),
            Subject::Position(index) => {
                let position = &self.positions[index as usize];
                Target::Position {
                    sku: self.symbols.name(position.sku).clone(),
                    location: self.symbols.name(position.location).clone(),
                }
            }
        }
    }

    fn fingerprint(&mut self, command: &Command) -> u64 {
        let mut buffer = std::mem::take(&mut self.fingerprint_buffer);
        buffer.clear();
        let buffer = postcard::to_extend(command, buffer).expect("commands always encode");
        let fingerprint = xxh3_64(&buffer);
        self.fingerprint_buffer = buffer;
        fingerprint
    }

    /// Apply a freshly decided event and keep it for the journal. `slot` is
    /// the reservation it is about, when the caller already knows it.
    fn commit(&mut self, event: Event, slot: Option<ReservationSlot>) -> Option<Subject> {
        let subject = self.apply(&event, slot);
        self.journal.push(event);
        subject
    }

    /// Take the events decided since the last drain, oldest first. The caller
    /// makes them durable before answering the requests that produced them.
    pub fn drain_journal(&mut self) -> Vec<Event> {
        // Keep the capacity: the next burst is likely as large as the last.
        let capacity = self.journal.capacity();
        std::mem::replace(&mut self.journal, Vec::with_capacity(capacity))
    }

    /// Number of events waiting in the journal.
    pub fn journal_len(&self) -> usize {
        self.journal.len()
    }

    /// The sequence number the next event will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Rebuild state from journaled events (after a snapshot, or from empty).
    /// Replayed events are not journaled again.
    pub fn replay(&mut self, events: &[Event]) -> Result<(), SnapshotError> {
        for event in events {
            if event.seq != self.next_seq {
                return Err(SnapshotError::OutOfSequence {
                    expected: self.next_seq,
                    found: event.seq,
                });
            }
            self.apply(event, None);
        }
        self.debug_check();
        Ok(())
    }

    /// Switch the rule-set version that decides from now on (journaled).
    pub fn set_rule_version(
        &mut self,
        version: &str,
        actor: &str,
        now: i64,
    ) -> Result<(), Rejection> {
        crate::limits::name("rule_version", version)?;
        crate::limits::name("actor", actor)?;
        let event = self.system_event(
            now,
            actor,
            ReasonCode::RULE_SET_ACTIVATED,
            Change::RuleVersionSet {
                version: Arc::from(version),
            },
        );
        self.commit(event, None);
        Ok(())
    }

    pub fn rule_version(&self) -> &str {
        self.symbols.name(self.rule_version)
    }

    /// Drop idempotency records older than the retention; returns how many.
    /// Journaled, so that a replay forgets the same keys.
    pub fn purge_idempotency(&mut self, now: i64) -> usize {
        let cutoff = now.saturating_sub(self.config.idempotency_retention_ms);
        let due = self
            .idempotency
            .iter()
            .filter(|r| r.decided_at < cutoff)
            .count();
        if due > 0 {
            let event = self.system_event(
                now,
                SYSTEM_ACTOR,
                ReasonCode::KEYS_PURGED,
                Change::KeysPurged {
                    decided_before: cutoff,
                },
            );
            self.commit(event, None);
        }
        self.debug_check();
        due
    }

    fn system_event(&self, now: i64, actor: &str, reason: ReasonCode, change: Change) -> Event {
        Event {
            seq: self.next_seq,
            at: now,
            tenant: Arc::from(""),
            actor: self.symbols.share(actor),
            idempotency_key: None,
            fingerprint: 0,
            rule_version: self.symbols.name(self.rule_version).clone(),
            reason,
            change,
        }
    }

    fn slot_of(&self, id: &ReservationId) -> Option<ReservationSlot> {
        let hash = self.id_hasher.hash_one(id);
        self.reservation_index
            .find(hash, |&slot| self.reservations[slot as usize].id == *id)
            .copied()
    }

    fn position_of(&self, sku: &str, location: &str) -> Option<PositionIndex> {
        let sku = self.symbols.get(sku)?;
        let location = self.symbols.get(location)?;
        self.position_index.get(&(sku, location)).copied()
    }

    /// In test builds, every operation ends with a full invariant check.
    fn debug_check(&self) {
        #[cfg(any(test, feature = "check-invariants"))]
        if let Err(violation) = self.check_invariants() {
            panic!("invariant violated: {violation}");
        }
    }
}

#[cfg(test)]
mod tests;
