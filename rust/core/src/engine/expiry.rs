//! Hold expiry. Due times sit in a min-heap, so a sweep costs in proportion
//! to the holds that come due (plus the stale entries of holds that were
//! renewed or finished earlier), never to the number of holds open.

use std::cmp::Reverse;

use crate::event::{Change, Event};
use crate::ids::ReservationId;
use crate::reason::ReasonCode;
use crate::state::{Action, LineState};

use super::{Engine, SYSTEM_ACTOR};

impl Engine {
    /// Expire every hold due at `now` (expires_at <= now); returns their ids.
    /// Every request runs this first, so a due hold is never seen as held.
    pub fn expire_due(&mut self, now: i64) -> Vec<ReservationId> {
        let expired = self.sweep(now);
        self.debug_check();
        expired
    }

    pub(super) fn sweep(&mut self, now: i64) -> Vec<ReservationId> {
        let mut expired = Vec::new();
        while let Some(&Reverse((due, slot))) = self.expiry.peek() {
            if due > now {
                break;
            }
            self.expiry.pop();
            let reservation = &self.reservations[slot as usize];
            if reservation.expires_at != due || !reservation.is_holding() {
                continue; // renewed since, or no longer a hold
            }
            let moves = reservation
                .lines
                .iter()
                .enumerate()
                .filter(|(_, line)| line.state == LineState::Reserved)
                .map(|(i, line)| self.line_move(i, line, line.quantity, LineState::Expired))
                .collect();
            let event = Event {
                seq: self.next_seq,
                // The hold ended at its due time, whenever the sweep noticed.
                at: due,
                tenant: self.symbols.name(reservation.tenant).clone(),
                actor: self.symbols.share(SYSTEM_ACTOR),
                idempotency_key: None,
                fingerprint: 0,
                rule_version: self.symbols.name(self.rule_version).clone(),
                reason: ReasonCode::HOLD_EXPIRED,
                change: Change::LinesMoved {
                    reservation_id: reservation.id,
                    action: Action::Expire,
                    moves,
                    restock: false,
                    note: String::new(),
                    as_of: None,
                },
            };
            expired.push(reservation.id);
            self.expired_untaken += 1;
            self.commit(event, Some(slot));
        }
        expired
    }

    /// How many holds sweeps expired since the last call (every request
    /// sweeps first, so callers count expiries without sweeping themselves).
    pub fn take_expired_count(&mut self) -> u64 {
        std::mem::take(&mut self.expired_untaken)
    }

    /// Holds currently open (reservations with at least one held line).
    pub fn open_holds(&self) -> usize {
        self.reservations.iter().filter(|r| r.is_holding()).count()
    }

    /// Rebuild the heap from the reservations (after a restore).
    pub(super) fn rebuild_expiry(&mut self) {
        self.expiry = self
            .reservations
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_holding())
            .map(|(slot, r)| Reverse((r.expires_at, slot as u32)))
            .collect();
    }
}
