//! Promised ship dates and daily pick capacity.
//!
//! An allocation at a location with a capacity rule is promised the local
//! day it ships (today before the location's carrier cutoff, tomorrow from
//! it on). That day's pick capacity must hold the allocated units, or the
//! allocation is refused CAPACITY_EXCEEDED; a caller's `ship_by` earlier
//! than the promise refuses it CUTOFF_MISSED. Nothing rolls over to a later
//! day: the promise is the one the cutoff gives, or none.
//!
//! Used capacity is the units of lines promised for that day that were not
//! given back: allocated, picked, shipped or returned lines count; a
//! released line (allocated and released, or picked, unpicked and released)
//! gives its units back. The index is derived from the lines, never stored.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::error::Rejection;
use crate::event::{Change, Promise};
use crate::reason::ReasonCode;
use crate::rules::RuleSet;
use crate::ship_date::ShipDate;
use crate::state::{Action, LineState};

use super::Engine;

type Decided = Result<(ReasonCode, Change), Rejection>;

/// Whether a promised line's units count against its day's capacity.
pub(super) const fn counts_against_capacity(state: LineState) -> bool {
    match state {
        LineState::Allocated | LineState::Picked | LineState::Shipped | LineState::Returned => true,
        LineState::Reserved | LineState::Released | LineState::Expired => false,
    }
}

impl Engine {
    /// Turn a decided allocation into one that promises ship dates where the
    /// rules give the location a capacity rule, or refuse it.
    pub(super) fn promise_ship_dates(
        &self,
        rules: &RuleSet,
        now: i64,
        ship_by: &str,
        decided: (ReasonCode, Change),
    ) -> Decided {
        let (reason, change) = decided;
        let Change::LinesMoved {
            action: Action::Allocate,
            moves,
            ..
        } = &change
        else {
            return Ok((reason, change));
        };
        if rules.capacity.is_empty() {
            return Ok((reason, change));
        }
        // Units this allocation commits per location, in order of appearance.
        let mut per_location: SmallVec<[(&Arc<str>, u64); 2]> = SmallVec::new();
        for m in moves.iter().filter(|m| m.to == LineState::Allocated) {
            match per_location.iter_mut().find(|(l, _)| *l == &m.location) {
                Some((_, units)) => *units += m.quantity,
                None => per_location.push((&m.location, m.quantity)),
            }
        }
        let ship_by = ShipDate::parse(ship_by);
        let mut promised = Vec::new();
        for (location, units) in per_location {
            let Some(rule) = rules.capacity.get(&**location) else {
                continue;
            };
            let date = rule.promised_date(now);
            if let Some(ship_by) = ship_by.filter(|by| date > *by) {
                return Err(Rejection::CutoffMissed {
                    location: location.to_string(),
                    ship_by: ship_by.to_string(),
                    promised: date.to_string(),
                    cutoff: rule.cutoff_text(),
                    time_zone: rule.time_zone.name().to_owned(),
                });
            }
            if let Some(capacity) = rule.daily_pick_units {
                let used = self.capacity_used(location, date);
                if used.saturating_add(units) > capacity {
                    return Err(Rejection::CapacityExceeded {
                        location: location.to_string(),
                        date: date.to_string(),
                        capacity,
                        used,
                        requested: units,
                    });
                }
            }
            promised.push(Promise {
                location: location.clone(),
                date,
            });
        }
        if promised.is_empty() {
            return Ok((reason, change));
        }
        let Change::LinesMoved {
            reservation_id,
            moves,
            ..
        } = change
        else {
            unreachable!("matched above")
        };
        Ok((
            reason,
            Change::LinesAllocated {
                reservation_id,
                moves,
                promised,
            },
        ))
    }

    /// Units promised to ship from `location` on `date` and not given back.
    pub fn capacity_used(&self, location: &str, date: ShipDate) -> u64 {
        self.symbols
            .get(location)
            .and_then(|sym| self.ship_capacity.get(&(sym, date)))
            .copied()
            .unwrap_or(0)
    }

    /// The capacity index from the reservations' lines (after a restore).
    pub(super) fn rebuild_ship_capacity(&mut self) {
        self.ship_capacity = self.ship_capacity_from_lines();
    }

    pub(super) fn ship_capacity_from_lines(&self) -> super::ShipCapacity {
        let mut used = super::ShipCapacity::new();
        for reservation in &self.reservations {
            for line in &reservation.lines {
                if let Some(date) = line.promised {
                    if counts_against_capacity(line.state) {
                        let location = self.positions[line.position as usize].location;
                        *used.entry((location, date)).or_default() += line.quantity;
                    }
                }
            }
        }
        used
    }
}
