//! Hold expiry. Due times sit in a min-heap, so a sweep costs in proportion
//! to the holds that come due (plus the stale entries of holds that were
//! renewed or finished earlier), never to the number of holds open.

use std::cmp::Reverse;

use crate::ids::ReservationId;

use super::Engine;

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
            let event = self.expiry_event(reservation);
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

    /// For metrics at `now`: when the oldest open hold was placed (`None`
    /// when none is open), how many open holds are past their expiry but not
    /// yet expired (the sweep backlog: 0 while sweeps keep up), and the
    /// earliest due time among those (`None` when there are none).
    ///
    /// Read from the expiry heap, which holds an entry for every open hold
    /// (plus stale ones), so it costs the holds open, not every reservation
    /// ever kept. Finding none overdue costs one peek.
    pub fn hold_ages(&self, now: i64) -> (Option<i64>, usize, Option<i64>) {
        let live = self.expiry.iter().filter_map(|&Reverse((due, slot))| {
            let reservation = &self.reservations[slot as usize];
            let live = reservation.expires_at == due && reservation.is_holding();
            live.then(|| (due, slot, reservation.created_at()))
        });
        let oldest_placed_at = live.clone().map(|(_, _, placed_at)| placed_at).min();
        match self.expiry.peek() {
            Some(&Reverse((soonest, _))) if soonest <= now => {
                let mut overdue: Vec<_> = live
                    .filter(|&(due, _, _)| due <= now)
                    .map(|(due, slot, _)| (slot, due))
                    .collect();
                // A hold renewed to its own due time has two equal entries: count it once.
                overdue.sort_unstable();
                overdue.dedup();
                let earliest_due = overdue.iter().map(|&(_, due)| due).min();
                (oldest_placed_at, overdue.len(), earliest_due)
            }
            _ => (oldest_placed_at, 0, None),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Command, LineRequest, Meta, Request};
    use crate::engine::{Config, Target};

    fn at(now: i64, key: &str, command: Command) -> Request {
        Request {
            meta: Meta::new("shop", key, "tester", now),
            command,
        }
    }

    fn hold(engine: &mut Engine, now: i64, key: &str, hold_seconds: i64) -> String {
        let lines = vec![LineRequest::new("sku", "loc", 1)];
        let command = Command::Reserve {
            order_ref: String::new(),
            channel: String::new(),
            lines,
            hold_seconds,
            allow_partial: false,
            destination_region: String::new(),
        };
        let outcome = engine.execute(&at(now, key, command));
        let Ok(Target::Reservation(id)) = outcome.result else {
            panic!("{outcome:?}")
        };
        id.to_string()
    }

    #[test]
    fn hold_ages_name_the_oldest_hold_and_the_sweep_backlog() {
        let mut engine = Engine::new(Config::default());
        assert_eq!(engine.hold_ages(0), (None, 0, None));
        let count = Command::SetStock {
            sku: "sku".into(),
            location: "loc".into(),
            on_hand: 10,
            source_sequence: 1,
            as_of: None,
        };
        assert!(engine.execute(&at(1_000, "count", count)).is_accepted());
        let first = hold(&mut engine, 1_000, "first", 10); // due at 11_000
        hold(&mut engine, 5_000, "second", 2); // due at 7_000
        assert_eq!(engine.hold_ages(6_000), (Some(1_000), 0, None));
        // Due but not yet swept: the backlog, while the oldest is still open.
        assert_eq!(engine.hold_ages(8_000), (Some(1_000), 1, Some(7_000)));
        assert_eq!(engine.hold_ages(12_000), (Some(1_000), 2, Some(7_000)));
        assert_eq!(engine.expire_due(8_000).len(), 1);
        assert_eq!(engine.hold_ages(8_000), (Some(1_000), 0, None));
        // Renewed to its own due time: two heap entries, one hold.
        let renew = Command::RenewHold {
            reservation_id: first.clone(),
            hold_seconds: 2,
        };
        assert!(engine.execute(&at(9_000, "renew", renew)).is_accepted());
        assert_eq!(engine.hold_ages(12_000), (Some(1_000), 1, Some(11_000)));
        let allocate = Command::Allocate {
            reservation_id: first,
            lines: vec![],
            ship_by: String::new(),
        };
        assert!(engine
            .execute(&at(9_500, "allocate", allocate))
            .is_accepted());
        assert_eq!(engine.hold_ages(12_000), (None, 0, None));
    }
}
