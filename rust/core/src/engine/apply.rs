//! Applying an event: the only code that changes the engine's state.
//! Live decisions and replay both come through here, so a replay cannot
//! disagree with what was decided.

use std::cmp::Reverse;
use std::hash::BuildHasher;
use std::sync::Arc;

use smallvec::smallvec;

use crate::event::{Change, Event, PlacedLine};
use crate::idempotency::{IdempotencyRecord, ReservationSlot, StoredOutcome, Subject};
use crate::ids::ReservationId;
use crate::position::{Position, PositionIndex};
use crate::reservation::{HistoryEntry, Line, Reservation};
use crate::ship_date::ShipDate;
use crate::state::{Action, LineState};

use super::capacity::counts_against_capacity;
use super::Engine;

/// One line move as `move_line` makes it.
struct LineChange {
    quantity: u64,
    to: LineState,
    /// Returned units go back on hand.
    restock: bool,
    /// The ship date this move promises (allocations at locations with a
    /// capacity rule).
    promised: Option<ShipDate>,
}

impl Engine {
    /// Apply one event; returns what it was about (`None` for changes with no
    /// subject). `known_slot` spares a lookup when the caller has the slot.
    pub(super) fn apply(
        &mut self,
        event: &Event,
        known_slot: Option<ReservationSlot>,
    ) -> Option<Subject> {
        assert_eq!(event.seq, self.next_seq, "events apply in sequence");
        self.next_seq += 1;
        let subject = match &event.change {
            Change::HoldPlaced {
                reservation_id,
                order_ref,
                channel,
                expires_at,
                lines,
                unverified,
            } => Some(Subject::Reservation(self.place_hold(
                event,
                *reservation_id,
                order_ref,
                channel,
                *expires_at,
                lines,
                *unverified,
            ))),
            Change::LinesMoved {
                reservation_id,
                action,
                moves,
                restock,
                note: _,
                as_of,
            } => {
                let slot = known_slot.unwrap_or_else(|| self.existing_slot(reservation_id));
                let from = self.reservations[slot as usize].state();
                let held = self.held_by(slot);
                for m in moves {
                    let change = LineChange {
                        quantity: m.quantity,
                        to: m.to,
                        restock: *restock,
                        promised: None,
                    };
                    let position = self.move_line(slot, m.line, change, event.at);
                    if let Some(as_of) = as_of {
                        // A warehouse fact: the position records when it happened and arrived.
                        let position = &mut self.positions[position as usize];
                        position.as_of = Some(*as_of);
                        position.received_at = Some(event.at);
                    }
                }
                self.track_tenant_holds(slot, held);
                self.record_history(slot, event, *action, Some(from));
                Some(Subject::Reservation(slot))
            }
            Change::LinesAllocated {
                reservation_id,
                moves,
                promised,
            } => {
                let slot = known_slot.unwrap_or_else(|| self.existing_slot(reservation_id));
                let from = self.reservations[slot as usize].state();
                let held = self.held_by(slot);
                for m in moves {
                    let promised = if m.to == LineState::Allocated {
                        promised
                            .iter()
                            .find(|p| p.location == m.location)
                            .map(|p| p.date)
                    } else {
                        None
                    };
                    let change = LineChange {
                        quantity: m.quantity,
                        to: m.to,
                        restock: false,
                        promised,
                    };
                    self.move_line(slot, m.line, change, event.at);
                }
                self.track_tenant_holds(slot, held);
                self.record_history(slot, event, Action::Allocate, Some(from));
                Some(Subject::Reservation(slot))
            }
            Change::HoldRenewed {
                reservation_id,
                expires_at,
            } => {
                let slot = self.existing_slot(reservation_id);
                let from = self.reservations[slot as usize].state();
                self.reservations[slot as usize].expires_at = *expires_at;
                self.expiry.push(Reverse((*expires_at, slot)));
                self.record_history(slot, event, Action::RenewHold, Some(from));
                Some(Subject::Reservation(slot))
            }
            Change::StockCounted {
                sku,
                location,
                on_hand,
                source_sequence,
                as_of,
            } => {
                let index = self.position_for(sku, location);
                let position = &mut self.positions[index as usize];
                position.on_hand = *on_hand;
                position.source_sequence = Some(*source_sequence);
                position.as_of = Some(*as_of);
                position.received_at = Some(event.at);
                position.track_overcommitment(event.at);
                Some(Subject::Position(index))
            }
            Change::StockAdjusted {
                sku,
                location,
                delta,
                adjustment_reason: _,
            } => {
                let index = self.position_for(sku, location);
                let position = &mut self.positions[index as usize];
                position.on_hand = position
                    .on_hand
                    .checked_add_signed(*delta)
                    .expect("a decided adjustment stays within on hand's range");
                position.received_at = Some(event.at);
                position.track_overcommitment(event.at);
                Some(Subject::Position(index))
            }
            Change::SafetyStockSet {
                sku,
                location,
                quantity,
            } => {
                let index = self.position_for(sku, location);
                let position = &mut self.positions[index as usize];
                position.safety_stock = *quantity;
                position.track_overcommitment(event.at);
                Some(Subject::Position(index))
            }
            Change::Rejected { rejection } => {
                self.remember(event, StoredOutcome::Rejected(Box::new(rejection.clone())));
                None
            }
            Change::KeysPurged { decided_before } => {
                self.idempotency.purge_decided_before(*decided_before);
                None
            }
            Change::RuleVersionSet { version } => {
                self.rule_version = self.symbols.intern(version);
                None
            }
        };
        if let Some(subject) = subject {
            let reason = event.reason;
            self.remember(event, StoredOutcome::Accepted { reason, subject });
        }
        subject
    }

    #[allow(clippy::too_many_arguments)]
    fn place_hold(
        &mut self,
        event: &Event,
        id: ReservationId,
        order_ref: &str,
        channel: &Arc<str>,
        expires_at: i64,
        placed: &[PlacedLine],
        unverified: bool,
    ) -> ReservationSlot {
        let slot = ReservationSlot::try_from(self.reservations.len())
            .expect("fewer than 2^32 reservations");
        let mut lines = smallvec![];
        let channel = self.symbols.intern(channel);
        for line in placed {
            let position = self.position_for(&line.sku, &line.location);
            self.positions[position as usize].move_units(
                None,
                LineState::Reserved.bucket(),
                line.quantity,
            );
            *self.channel_units.entry((position, channel)).or_default() += line.quantity;
            lines.push(Line {
                position,
                state: LineState::Reserved,
                quantity: line.quantity,
                promised: None,
            });
        }
        let tenant = self.symbols.intern(&event.tenant);
        let first = self.history_entry(event, Action::Reserve, None, LineState::Reserved);
        self.reservations.push(Reservation {
            id,
            tenant,
            channel,
            order_ref: order_ref.into(),
            expires_at,
            lines,
            history: smallvec![first],
            unverified,
        });
        let Self {
            reservation_index,
            reservations,
            id_hasher,
            ..
        } = self;
        reservation_index.insert_unique(id_hasher.hash_one(id), slot, |&s| {
            id_hasher.hash_one(reservations[s as usize].id)
        });
        self.expiry.push(Reverse((expires_at, slot)));
        self.minted += 1;
        self.track_tenant_holds(slot, (false, 0));
        slot
    }

    /// Whether a reservation is an open hold, and the units it holds.
    fn held_by(&self, slot: ReservationSlot) -> (bool, u64) {
        let reservation = &self.reservations[slot as usize];
        let units = reservation
            .lines
            .iter()
            .filter(|line| line.state == LineState::Reserved)
            .map(|line| line.quantity)
            .sum();
        (units > 0, units)
    }

    /// Keep the tenant caps' index in step with a reservation that held
    /// `before` (open, units) and holds what it holds now.
    fn track_tenant_holds(&mut self, slot: ReservationSlot, before: (bool, u64)) {
        let after = self.held_by(slot);
        if after == before {
            return;
        }
        let tenant = self.reservations[slot as usize].tenant;
        let holds = self.tenant_holds.entry(tenant).or_default();
        holds.open_holds = (holds.open_holds + u64::from(after.0))
            .checked_sub(u64::from(before.0))
            .expect("a tenant closes only holds it opened");
        holds.held_units = (holds.held_units + after.1)
            .checked_sub(before.1)
            .expect("a tenant gives back only units it held");
        if *holds == super::TenantHolds::default() {
            self.tenant_holds.remove(&tenant);
        }
    }

    /// Move units of one line to another state, splitting the line when only
    /// part of it moves, and carry the units between the position's buckets.
    fn move_line(
        &mut self,
        slot: ReservationSlot,
        line: u32,
        change: LineChange,
        at: i64,
    ) -> PositionIndex {
        let LineChange {
            quantity,
            to,
            restock,
            promised,
        } = change;
        let reservation = &mut self.reservations[slot as usize];
        let current = reservation.lines[line as usize];
        // The moved units keep their promise unless this move makes one.
        let promised = promised.or(current.promised);
        if quantity < current.quantity {
            reservation.lines[line as usize].quantity -= quantity;
            reservation.lines.push(Line {
                position: current.position,
                state: to,
                quantity,
                promised,
            });
        } else {
            assert_eq!(quantity, current.quantity, "a move never exceeds its line");
            reservation.lines[line as usize].state = to;
            reservation.lines[line as usize].promised = promised;
        }
        let channel = reservation.channel;
        self.track_ship_capacity(current, quantity, to, promised);
        let (held_before, held_after) = (current.state.bucket().is_some(), to.bucket().is_some());
        if held_before != held_after {
            let units = self
                .channel_units
                .entry((current.position, channel))
                .or_default();
            *units = if held_after {
                *units + quantity
            } else {
                units
                    .checked_sub(quantity)
                    .expect("a channel gives back what it held")
            };
        }
        let position = &mut self.positions[current.position as usize];
        position.move_units(current.state.bucket(), to.bucket(), quantity);
        if to == LineState::Shipped {
            position.on_hand = position
                .on_hand
                .checked_sub(quantity)
                .expect("shipping was checked against on hand");
        }
        if to == LineState::Returned && restock {
            position.on_hand = position
                .on_hand
                .checked_add(quantity)
                .expect("restocking was checked for overflow");
        }
        position.track_overcommitment(at);
        current.position
    }

    /// Keep the capacity index in step with `quantity` units of `before`
    /// moving to `to` under promise `promised`.
    fn track_ship_capacity(
        &mut self,
        before: Line,
        quantity: u64,
        to: LineState,
        promised: Option<ShipDate>,
    ) {
        let counted =
            |state, promise: Option<ShipDate>| promise.filter(|_| counts_against_capacity(state));
        let (was, is) = (
            counted(before.state, before.promised),
            counted(to, promised),
        );
        if was == is {
            return;
        }
        let location = self.positions[before.position as usize].location;
        if let Some(date) = was {
            let used = self
                .ship_capacity
                .get_mut(&(location, date))
                .expect("a promised line was counted");
            *used = used
                .checked_sub(quantity)
                .expect("a location gives back what was promised");
            if *used == 0 {
                self.ship_capacity.remove(&(location, date));
            }
        }
        if let Some(date) = is {
            *self.ship_capacity.entry((location, date)).or_default() += quantity;
        }
    }

    fn history_entry(
        &mut self,
        event: &Event,
        action: Action,
        from: Option<LineState>,
        to: LineState,
    ) -> HistoryEntry {
        HistoryEntry {
            at: event.at,
            action,
            from,
            to,
            reason: event.reason,
            actor: self.symbols.intern(&event.actor),
            rule_version: self.symbols.intern(&event.rule_version),
            idempotency_key: event.idempotency_key.clone(),
        }
    }

    fn record_history(
        &mut self,
        slot: ReservationSlot,
        event: &Event,
        action: Action,
        from: Option<LineState>,
    ) {
        let to = self.reservations[slot as usize].state();
        let entry = self.history_entry(event, action, from, to);
        self.reservations[slot as usize].history.push(entry);
    }

    /// Store the outcome under the event's idempotency key, if it has one.
    fn remember(&mut self, event: &Event, outcome: StoredOutcome) {
        let Some(key) = &event.idempotency_key else {
            return;
        };
        let tenant = self.symbols.intern(&event.tenant);
        let rule_version = self.symbols.intern(&event.rule_version);
        self.idempotency.insert(IdempotencyRecord {
            tenant,
            key: key.clone(),
            fingerprint: event.fingerprint,
            decided_at: event.at,
            rule_version,
            outcome,
        });
    }

    fn existing_slot(&self, id: &ReservationId) -> ReservationSlot {
        self.slot_of(id)
            .expect("events only name reservations that exist")
    }

    /// The position for a SKU at a location, created on first mention.
    fn position_for(&mut self, sku: &Arc<str>, location: &Arc<str>) -> PositionIndex {
        let sku = self.symbols.intern(sku);
        let location = self.symbols.intern(location);
        if let Some(index) = self.position_index.get(&(sku, location)) {
            return *index;
        }
        let index =
            PositionIndex::try_from(self.positions.len()).expect("fewer than 2^32 positions");
        self.positions.push(Position::new(sku, location));
        self.position_index.insert((sku, location), index);
        self.sku_positions.entry(sku).or_default().push(index);
        self.locations.insert(location, ());
        index
    }
}
