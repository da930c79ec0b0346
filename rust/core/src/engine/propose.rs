//! Proposals: a decision made against this engine's state without applying
//! it, and the guards a shared store must re-check before committing it.
//!
//! With a shared store (Redis), several engines decide side by side, each on
//! a copy of the state that may be a few commits behind. A proposal is the
//! decision this engine would make, as one event, plus its [`Plan`]: what
//! the decision relied on (guards) and what committing it changes (effects),
//! in terms a store can check and apply without knowing any rule ("this
//! object is unchanged since seq N", "after these deltas, this position
//! keeps at least F units free"); the store itself also checks that the
//! event's idempotency key is not taken by another commit. The store commits
//! the event only if every guard holds; every engine then applies the
//! committed events in the store's order, so all copies converge.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::command::{Command, Request};
use crate::event::{Change, Event, LineMove};
use crate::ids::ReservationId;
use crate::reservation::Reservation;
use crate::state::{Bucket, LineState};

use super::{Engine, Outcome, Target, SYSTEM_ACTOR};

/// Something a decision can read or change, named as the store keys it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Position {
        sku: Arc<str>,
        location: Arc<str>,
    },
    Reservation(ReservationId),
    /// The pick capacity promised at a location (all its ship dates).
    Capacity {
        location: Arc<str>,
    },
    /// Which positions a SKU has: changed by every warehouse fact about
    /// it, so that a refusal guards against a position appearing meanwhile.
    Sku {
        sku: Arc<str>,
    },
    /// Which rule-set version decides.
    Rules,
    /// A tenant's open holds and held units: changed by every event that
    /// changes them, read by reserves while a tenant cap is configured.
    Tenant {
        tenant: Arc<str>,
    },
}

/// How committing an event changes one position's buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PositionDelta {
    pub on_hand: i64,
    pub reserved: i64,
    pub allocated: i64,
    pub picked: i64,
    /// The position's own safety stock afterwards, when the event sets it.
    pub safety_stock: Option<u64>,
}

/// A position whose committed units grow: after the deltas, on hand minus
/// everything committed must stay at or above `floor`, and the position's
/// safety stock must still be `safety_stock` (the floor was derived from it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Headroom {
    pub floor: u64,
    pub safety_stock: u64,
}

/// What a store checks before committing an event, and what it then changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Objects the decision read that must be unchanged since it was made.
    pub unchanged: Vec<Object>,
    /// Guards on the headroom of positions whose commitments grow.
    pub headroom: Vec<(Object, Headroom)>,
    /// Bucket changes per position.
    pub positions: Vec<(Object, PositionDelta)>,
    /// Every object the event changes (their "changed at" becomes its seq).
    pub touched: Vec<Object>,
    /// The reservation the event creates or changes, with its tenant and
    /// state afterwards.
    pub reservation: Option<(ReservationId, Arc<str>, LineState)>,
    /// A hold's due time afterwards (`Some`), or that it no longer holds (`None`).
    pub expiry: Option<(ReservationId, Option<i64>)>,
    /// The rule-set version the event activates.
    pub rule_version_set: Option<Arc<str>>,
}

impl Engine {
    /// Decide `request` as [`Engine::execute`] would, without sweeping or
    /// applying anything: the outcome and, when it is a new decision, its
    /// event (numbered as if it were next) and plan. A new reservation's id
    /// takes `mint` as its counter, so that concurrent proposals of one
    /// engine mint distinct ids.
    pub fn propose(&mut self, request: &Request, mint: u64) -> (Outcome, Option<(Event, Plan)>) {
        let meta = &request.meta;
        let owner = request.command.action().owner();
        if let Err(rejection) = super::validate::request(request) {
            return (self.refusal(meta.now, owner, rejection), None);
        }
        // Minted from the caller's counter (the shadow's decision too).
        let minted = std::mem::replace(&mut self.minted, mint.saturating_sub(1));
        let decision = self.decision(request, owner);
        self.minted = minted;
        let event = match decision {
            super::Decision::New(event) => event,
            super::Decision::Answered(answer) => return (answer, None),
        };
        let reason = event.reason;
        let result = match &event.change {
            Change::Rejected { rejection } => Err(rejection.clone()),
            change => Ok(target_of(change)),
        };
        let plan = self.plan(&event, Some(&request.command));
        let outcome = Outcome {
            reason,
            decided_at: meta.now,
            rule_version: event.rule_version.clone(),
            replayed: false,
            owner,
            result,
        };
        (outcome, Some((event, plan)))
    }

    /// The expiry of a hold due at `now`, as a proposal: `None` when the
    /// reservation is unknown, renewed past `now` or no longer holding.
    pub fn propose_expiry(&self, id: &ReservationId, now: i64) -> Option<(Event, Plan)> {
        let slot = self.slot_of(id)?;
        let reservation = &self.reservations[slot as usize];
        if !reservation.is_holding() || reservation.expires_at > now {
            return None;
        }
        let event = self.expiry_event(reservation);
        let plan = self.plan(&event, None);
        Some((event, plan))
    }

    /// Up to `limit` holds due at `now` that no committed expiry has ended
    /// yet, soonest first. A shared store's engine never sweeps by itself
    /// (expiries are proposed and committed like any decision), so this
    /// also drops the heap entries of holds renewed or ended since.
    pub fn due_holds(&mut self, now: i64, limit: usize) -> Vec<ReservationId> {
        let mut due = Vec::new();
        let mut live = Vec::new();
        while let Some(&std::cmp::Reverse((at, slot))) = self.expiry.peek() {
            if at > now || due.len() >= limit {
                break;
            }
            let entry = self.expiry.pop().expect("peeked");
            let reservation = &self.reservations[slot as usize];
            // A hold renewed to its own due time has two entries: listed once.
            if reservation.expires_at == at
                && reservation.is_holding()
                && !due.contains(&reservation.id)
            {
                due.push(reservation.id);
                live.push(entry);
            }
        }
        self.expiry.extend(live);
        due
    }

    /// Forgetting the idempotency records past their retention, as a
    /// proposal (see [`Engine::purge_idempotency`]); `None` when none is due.
    pub fn propose_purge(&self, now: i64) -> Option<(Event, Plan)> {
        let cutoff = now.saturating_sub(self.config.idempotency_retention_ms);
        if !self.idempotency.iter().any(|r| r.decided_at < cutoff) {
            return None;
        }
        let event = self.system_event(
            now,
            SYSTEM_ACTOR,
            crate::reason::ReasonCode::KEYS_PURGED,
            Change::KeysPurged {
                decided_before: cutoff,
            },
        );
        let plan = self.plan(&event, None);
        Some((event, plan))
    }

    /// The rule-version switch as a proposal (see [`Engine::set_rule_version`]).
    pub fn propose_rule_version(&self, version: &str, actor: &str, now: i64) -> (Event, Plan) {
        let event = self.system_event(
            now,
            actor,
            crate::reason::ReasonCode::RULE_SET_ACTIVATED,
            Change::RuleVersionSet {
                version: Arc::from(version),
            },
        );
        let plan = self.plan(&event, None);
        (event, plan)
    }

    /// Apply an event another engine (or this one) committed to the shared
    /// store, numbered by the store: `seq` replaces the number it was proposed with.
    pub fn apply_committed(
        &mut self,
        seq: u64,
        mut event: Event,
    ) -> Result<(), super::SnapshotError> {
        event.seq = seq;
        self.replay(std::slice::from_ref(&event))
    }

    /// The guards and effects of committing `event` on this engine's state.
    /// `command` is the request that was decided (for a rejection: what it read).
    pub fn plan(&self, event: &Event, command: Option<&Command>) -> Plan {
        let mut plan = Plan::default();
        match &event.change {
            Change::HoldPlaced {
                reservation_id,
                channel,
                expires_at,
                lines,
                ..
            } => {
                let capped = self
                    .rules
                    .channel_caps
                    .iter()
                    .any(|cap| *cap.channel == **channel);
                for line in lines {
                    let object = position(&line.sku, &line.location);
                    add_delta(&mut plan, &object, Bucket::Reserved, to_i64(line.quantity));
                    let current = self.position_of(&line.sku, &line.location);
                    let safety_stock =
                        current.map_or(0, |p| self.positions[p as usize].safety_stock);
                    let floor =
                        safety_stock.max(self.rules.safety_stock_for(&line.sku, &line.location));
                    if !plan.headroom.iter().any(|(o, _)| *o == object) {
                        plan.headroom.push((
                            object.clone(),
                            Headroom {
                                floor,
                                safety_stock,
                            },
                        ));
                    }
                    if capped {
                        // A cap counts the channel's units across reservations:
                        // any change to the position may have used them.
                        push_once(&mut plan.unchanged, object);
                    }
                }
                let id = *reservation_id;
                plan.unchanged.push(Object::Reservation(id));
                let tenant = Object::Tenant {
                    tenant: event.tenant.clone(),
                };
                if self.tenant_capped() {
                    // The caps count the tenant's holds across reservations.
                    plan.unchanged.push(tenant);
                } else {
                    plan.touched.push(tenant);
                }
                plan.reservation = Some((id, event.tenant.clone(), LineState::Reserved));
                plan.expiry = Some((id, Some(*expires_at)));
            }
            Change::LinesMoved {
                reservation_id,
                moves,
                restock,
                ..
            } => self.plan_moves(&mut plan, reservation_id, moves, *restock, false),
            Change::LinesAllocated {
                reservation_id,
                moves,
                promised,
            } => {
                self.plan_moves(&mut plan, reservation_id, moves, false, true);
                for promise in promised {
                    push_once(
                        &mut plan.unchanged,
                        Object::Capacity {
                            location: promise.location.clone(),
                        },
                    );
                }
            }
            Change::HoldRenewed {
                reservation_id,
                expires_at,
            } => {
                let id = *reservation_id;
                plan.unchanged.push(Object::Reservation(id));
                if let Some(reservation) = self.reservation_by_id(&id) {
                    plan.reservation =
                        Some((id, self.tenant_name(reservation), reservation.state()));
                }
                plan.expiry = Some((id, Some(*expires_at)));
            }
            Change::StockCounted {
                sku,
                location,
                on_hand,
                ..
            } => {
                let current = self.position_of(sku, location);
                let before = current.map_or(0, |p| self.positions[p as usize].on_hand);
                let object = position(sku, location);
                plan.unchanged.push(object.clone());
                plan.touched.push(Object::Sku { sku: sku.clone() });
                let delta = i128::from(*on_hand) - i128::from(before);
                plan.positions.push((
                    object,
                    PositionDelta {
                        on_hand: i64::try_from(delta).unwrap_or(i64::MAX),
                        ..PositionDelta::default()
                    },
                ));
            }
            Change::StockAdjusted {
                sku,
                location,
                delta,
                ..
            } => {
                let object = position(sku, location);
                plan.unchanged.push(object.clone());
                plan.touched.push(Object::Sku { sku: sku.clone() });
                plan.positions.push((
                    object,
                    PositionDelta {
                        on_hand: *delta,
                        ..PositionDelta::default()
                    },
                ));
            }
            Change::SafetyStockSet {
                sku,
                location,
                quantity,
            } => {
                let object = position(sku, location);
                plan.unchanged.push(object.clone());
                plan.touched.push(Object::Sku { sku: sku.clone() });
                plan.positions.push((
                    object,
                    PositionDelta {
                        safety_stock: Some(*quantity),
                        ..PositionDelta::default()
                    },
                ));
            }
            Change::Rejected { .. } => {
                // A refusal read state too: it is committed only if what it
                // read is still as it was, so a refusal is never stale.
                if let Some(command) = command {
                    self.read_by(command, &mut plan.unchanged);
                    if matches!(command, Command::Reserve { .. }) && self.tenant_capped() {
                        plan.unchanged.push(Object::Tenant {
                            tenant: event.tenant.clone(),
                        });
                    }
                }
            }
            Change::KeysPurged { .. } => {}
            Change::RuleVersionSet { version } => {
                plan.rule_version_set = Some(version.clone());
            }
        }
        match &event.change {
            Change::Rejected { .. } => {} // changes nothing
            Change::RuleVersionSet { .. } => plan.touched.push(Object::Rules),
            _ => {
                let changed: Vec<Object> = (plan.unchanged.iter())
                    .chain(plan.positions.iter().map(|(o, _)| o))
                    .cloned()
                    .collect();
                for object in changed {
                    push_once(&mut plan.touched, object);
                }
            }
        }
        // Every decision is made under the active rules: a switch in between
        // makes it decide again under the new ones. So is a switch: one that
        // another switch overtook is chosen again (a rollback's target
        // depends on what was active), so switches commit in the order they
        // were decided in.
        plan.unchanged.push(Object::Rules);
        plan
    }

    fn plan_moves(
        &self,
        plan: &mut Plan,
        id: &ReservationId,
        moves: &[LineMove],
        restock: bool,
        allocating: bool,
    ) {
        plan.unchanged.push(Object::Reservation(*id));
        let Some(reservation) = self.reservation_by_id(id) else {
            return;
        };
        // Each line's state and units as the moves before this one left it
        // (as applying does: a part moved splits a new line off the end).
        let mut lines: SmallVec<[(LineState, u64); 4]> = (reservation.lines.iter())
            .map(|line| (line.state, line.quantity))
            .collect();
        for m in moves {
            let line = reservation.lines[m.line as usize];
            let (state, units) = lines[m.line as usize];
            let object = position(&m.sku, &m.location);
            let quantity = to_i64(m.quantity);
            if let Some(from) = state.bucket() {
                add_delta(plan, &object, from, -quantity);
            }
            if let Some(to) = m.to.bucket() {
                add_delta(plan, &object, to, quantity);
            }
            let on_hand = match m.to {
                LineState::Shipped => -quantity,
                LineState::Returned if restock => quantity,
                _ => 0,
            };
            delta_of(plan, &object).on_hand += on_hand;
            if !allocating && line.promised.is_some() {
                // Units leaving a promised state change the day's count.
                let location = self.location_name(line.position).clone();
                push_once(&mut plan.touched, Object::Capacity { location });
            }
            if state == LineState::Reserved && m.to != LineState::Reserved {
                // Units leaving a hold give the tenant's quota back.
                push_once(
                    &mut plan.touched,
                    Object::Tenant {
                        tenant: self.tenant_name(reservation),
                    },
                );
            }
            if m.quantity >= units {
                lines[m.line as usize].0 = m.to;
            } else {
                lines[m.line as usize].1 -= m.quantity;
                lines.push((m.to, m.quantity));
            }
        }
        let state = LineState::of_reservation(lines.iter().map(|&(state, _)| state));
        plan.reservation = Some((*id, self.tenant_name(reservation), state));
        if !lines.iter().any(|&(state, _)| state == LineState::Reserved) {
            plan.expiry = Some((*id, None));
        }
    }

    /// What deciding `command` read, for a refusal's guards.
    fn read_by(&self, command: &Command, read: &mut Vec<Object>) {
        match command {
            Command::Reserve { lines, .. } => {
                for line in lines {
                    push_once(
                        read,
                        Object::Sku {
                            sku: Arc::from(line.sku.as_str()),
                        },
                    );
                    let stocked = self
                        .symbols
                        .get(&line.sku)
                        .and_then(|sku| self.sku_positions.get(&sku));
                    for &index in stocked.into_iter().flatten() {
                        let p = &self.positions[index as usize];
                        let object = Object::Position {
                            sku: self.symbols.name(p.sku).clone(),
                            location: self.symbols.name(p.location).clone(),
                        };
                        push_once(read, object);
                    }
                }
            }
            Command::Allocate { reservation_id, .. } => {
                if let Some(id) = crate::ids::parse(reservation_id) {
                    push_once(read, Object::Reservation(id));
                    // Capacity refusals read the day's count at each location.
                    for location in self.reservation_locations(&id) {
                        push_once(read, Object::Capacity { location });
                    }
                }
            }
            Command::Release { reservation_id, .. }
            | Command::RenewHold { reservation_id, .. }
            | Command::ConfirmPick { reservation_id, .. }
            | Command::Unpick { reservation_id, .. }
            | Command::ConfirmShipment { reservation_id, .. }
            | Command::RecordReturn { reservation_id, .. } => {
                if let Some(id) = crate::ids::parse(reservation_id) {
                    push_once(read, Object::Reservation(id));
                }
            }
            Command::SetStock { sku, location, .. }
            | Command::AdjustStock { sku, location, .. }
            | Command::SetSafetyStock { sku, location, .. } => {
                push_once(read, position(sku, location));
            }
        }
    }

    fn reservation_by_id(&self, id: &ReservationId) -> Option<&Reservation> {
        self.slot_of(id)
            .map(|slot| &self.reservations[slot as usize])
    }

    fn reservation_locations(&self, id: &ReservationId) -> Vec<Arc<str>> {
        let mut locations = Vec::new();
        if let Some(reservation) = self.reservation_by_id(id) {
            for line in &reservation.lines {
                let location = self.location_name(line.position).clone();
                if !locations.contains(&location) {
                    locations.push(location);
                }
            }
        }
        locations
    }

    fn tenant_name(&self, reservation: &Reservation) -> Arc<str> {
        self.symbols.name(reservation.tenant).clone()
    }

    /// The event a sweep makes for a due hold (its held lines expire).
    pub(super) fn expiry_event(&self, reservation: &Reservation) -> Event {
        let moves = reservation
            .lines
            .iter()
            .enumerate()
            .filter(|(_, line)| line.state == LineState::Reserved)
            .map(|(i, line)| self.line_move(i, line, line.quantity, LineState::Expired))
            .collect();
        Event {
            seq: self.next_seq,
            // The hold ended at its due time, whenever the sweep noticed.
            at: reservation.expires_at,
            tenant: self.symbols.name(reservation.tenant).clone(),
            actor: self.symbols.share(SYSTEM_ACTOR),
            idempotency_key: None,
            fingerprint: 0,
            rule_version: self.symbols.name(self.rule_version).clone(),
            reason: crate::reason::ReasonCode::HOLD_EXPIRED,
            change: Change::LinesMoved {
                reservation_id: reservation.id,
                action: crate::state::Action::Expire,
                moves,
                restock: false,
                note: String::new(),
                as_of: None,
            },
        }
    }
}

fn target_of(change: &Change) -> Target {
    match change {
        Change::HoldPlaced { reservation_id, .. }
        | Change::LinesMoved { reservation_id, .. }
        | Change::LinesAllocated { reservation_id, .. }
        | Change::HoldRenewed { reservation_id, .. } => Target::Reservation(*reservation_id),
        Change::StockCounted { sku, location, .. }
        | Change::StockAdjusted { sku, location, .. }
        | Change::SafetyStockSet { sku, location, .. } => Target::Position {
            sku: sku.clone(),
            location: location.clone(),
        },
        Change::Rejected { .. } | Change::KeysPurged { .. } | Change::RuleVersionSet { .. } => {
            unreachable!("a decided change that is not a rejection has a subject")
        }
    }
}

fn position(sku: &str, location: &str) -> Object {
    Object::Position {
        sku: Arc::from(sku),
        location: Arc::from(location),
    }
}

fn push_once(objects: &mut Vec<Object>, object: Object) {
    if !objects.contains(&object) {
        objects.push(object);
    }
}

fn delta_of<'a>(plan: &'a mut Plan, object: &Object) -> &'a mut PositionDelta {
    let index = match plan.positions.iter().position(|(o, _)| o == object) {
        Some(index) => index,
        None => {
            plan.positions
                .push((object.clone(), PositionDelta::default()));
            plan.positions.len() - 1
        }
    };
    &mut plan.positions[index].1
}

fn add_delta(plan: &mut Plan, object: &Object, bucket: Bucket, quantity: i64) {
    let delta = delta_of(plan, object);
    match bucket {
        Bucket::Reserved => delta.reserved += quantity,
        Bucket::Allocated => delta.allocated += quantity,
        Bucket::Picked => delta.picked += quantity,
    }
}

fn to_i64(quantity: u64) -> i64 {
    i64::try_from(quantity).unwrap_or(i64::MAX)
}
