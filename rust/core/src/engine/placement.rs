//! Where a reserve's units come from, under a rule set: the location
//! strategy when a line names none, whether a line may split across
//! locations, the safety stock the rules keep back and the channel's cap.
//! Everything is guarded against what the same request already plans, so
//! two lines of one request never take the same units twice.

use smallvec::SmallVec;

use crate::error::Rejection;
use crate::position::PositionIndex;
use crate::rules::{RuleSet, Strategy};
use crate::symbols::Sym;

use super::Engine;

/// Units this request already plans to take from each position.
pub(super) type Planned = SmallVec<[(PositionIndex, u64); 4]>;

pub(super) fn planned_at(planned: &Planned, position: PositionIndex) -> u64 {
    planned
        .iter()
        .find(|(p, _)| *p == position)
        .map_or(0, |(_, units)| *units)
}

pub(super) fn plan(planned: &mut Planned, position: PositionIndex, units: u64) {
    match planned.iter_mut().find(|(p, _)| *p == position) {
        Some((_, total)) => *total += units,
        None => planned.push((position, units)),
    }
}

/// One line group's answer: the units taken per position (possibly fewer
/// than requested), and why not all, when not all.
pub(super) struct Placement {
    pub takes: SmallVec<[(PositionIndex, u64); 2]>,
    pub shortfall: Option<Rejection>,
}

/// What one position can give this request.
#[derive(Clone, Copy)]
struct Room {
    position: PositionIndex,
    /// Units that may be taken (never negative).
    units: u64,
    /// Available after safety stock and this request's plan, unclamped: the
    /// most-available order ranks by it, as it always has.
    score: i64,
    /// The channel's cap binds before availability does.
    capped: Option<(u64, u64)>,
}

/// What the request says about one group of its lines.
pub(super) struct Ask<'a> {
    pub sku: &'a str,
    pub sku_sym: Sym,
    /// Empty: the rules choose.
    pub location: &'a str,
    pub requested: u64,
    pub channel: &'a str,
    pub destination: &'a str,
    /// Under `fewest_splits`: the locations in the order this request
    /// prefers them (see `split_ranking`); empty under other strategies.
    pub preferred: &'a [Sym],
}

impl Engine {
    pub(super) fn place(
        &self,
        rules: &RuleSet,
        ask: &Ask<'_>,
        named: Option<PositionIndex>,
        planned: &Planned,
    ) -> Placement {
        let mut rooms: SmallVec<[Room; 4]> = if ask.location.is_empty() {
            self.sku_positions
                .get(&ask.sku_sym)
                .into_iter()
                .flatten()
                .map(|&p| self.room(rules, ask, p, planned))
                .collect()
        } else {
            named
                .map(|p| self.room(rules, ask, p, planned))
                .into_iter()
                .collect()
        };
        if ask.location.is_empty() {
            self.order(rules, ask, planned, &mut rooms);
        }
        let allow_split = rules.allocation.allow_split && ask.location.is_empty();
        let mut takes = SmallVec::new();
        let mut left = ask.requested;
        if allow_split {
            for room in &rooms {
                let units = room.units.min(left);
                if units > 0 {
                    takes.push((room.position, units));
                    left -= units;
                }
            }
        } else if let Some(room) = rooms.iter().find(|r| r.units >= ask.requested) {
            takes.push((room.position, ask.requested));
            left = 0;
        } else if let Some(best) = self.best(&rooms) {
            if best.units > 0 {
                takes.push((best.position, best.units));
                left -= best.units;
            }
        }
        let shortfall = (left > 0).then(|| self.shortfall(ask, &rooms, allow_split));
        Placement { takes, shortfall }
    }

    fn room(
        &self,
        rules: &RuleSet,
        ask: &Ask<'_>,
        position: PositionIndex,
        planned: &Planned,
    ) -> Room {
        let p = &self.positions[position as usize];
        // Most rule sets keep no safety stock and cap no channel: the hot
        // path then skips the name lookups and pattern matching.
        let extra_safety = if rules.safety_stock.is_empty() {
            0
        } else {
            let sku = self.symbols.name(p.sku);
            let location = self.symbols.name(p.location);
            rules
                .safety_stock_for(sku, location)
                .saturating_sub(p.safety_stock)
        };
        let taken = planned_at(planned, position);
        let score = p
            .available()
            .saturating_sub(i64::try_from(extra_safety).unwrap_or(i64::MAX))
            .saturating_sub(i64::try_from(taken).unwrap_or(i64::MAX));
        let mut units = u64::try_from(score.max(0)).expect("clamped at zero");
        let mut capped = None;
        let cap = if rules.channel_caps.is_empty() {
            None
        } else {
            rules.channel_cap_for(ask.channel, p.on_hand)
        };
        if let Some(cap) = cap {
            let committed = self.channel_committed(position, ask.channel);
            let room = cap.saturating_sub(committed).saturating_sub(taken);
            if room < units {
                units = room;
                capped = Some((cap, committed));
            }
        }
        Room {
            position,
            units,
            score,
            capped,
        }
    }

    /// The candidates in the order the strategy takes them.
    fn order(&self, rules: &RuleSet, ask: &Ask<'_>, planned: &Planned, rooms: &mut [Room]) {
        let location_rank = |order: &[String], room: &Room| {
            let name = self
                .symbols
                .name(self.positions[room.position as usize].location);
            order
                .iter()
                .position(|l| **l == **name)
                .unwrap_or(usize::MAX)
        };
        // Stable sorts: ties keep the order positions were created in.
        match rules.allocation.strategy {
            Strategy::MostAvailable => rooms.sort_by_key(|r| std::cmp::Reverse((r.units, r.score))),
            Strategy::FewestSplits => {
                // A location that fills the line whole, one the request
                // already takes from, then the request's preferred order;
                // a line that must split takes the largest first.
                let location = |r: &Room| self.positions[r.position as usize].location;
                let used = |r: &Room| {
                    planned
                        .iter()
                        .any(|(p, _)| self.positions[*p as usize].location == location(r))
                };
                let rank = |r: &Room| {
                    ask.preferred
                        .iter()
                        .position(|l| *l == location(r))
                        .unwrap_or(usize::MAX)
                };
                rooms.sort_by_key(|r| {
                    let whole = r.units >= ask.requested;
                    (
                        !whole,
                        !used(r),
                        if whole { rank(r) } else { 0 },
                        std::cmp::Reverse((r.units, r.score)),
                    )
                });
            }
            Strategy::Priority => {
                rooms.sort_by_key(|r| location_rank(&rules.allocation.priority, r));
            }
            Strategy::Nearest => match rules.allocation.nearest.get(ask.destination) {
                Some(order) => rooms.sort_by_key(|r| location_rank(order, r)),
                // No known destination: nothing is nearer than anything else.
                None => rooms.sort_by_key(|r| std::cmp::Reverse((r.units, r.score))),
            },
        }
    }

    /// Under `fewest_splits`, the locations a request should come from
    /// first: those that can fill the most of its lines whole (the lines
    /// that leave the location to the rules), then those that can give the
    /// most units to them, then those with the most available. A location
    /// that fills every line ships the request from one place.
    pub(super) fn split_ranking(&self, rules: &RuleSet, asks: &[Ask<'_>]) -> SmallVec<[Sym; 4]> {
        // (location, lines filled whole, units it can give those lines,
        // units it has for them in all)
        let mut tally: SmallVec<[(Sym, u32, u64, u64); 4]> = SmallVec::new();
        let nothing_planned = Planned::new();
        for ask in asks.iter().filter(|a| a.location.is_empty()) {
            for &position in self.sku_positions.get(&ask.sku_sym).into_iter().flatten() {
                let room = self.room(rules, ask, position, &nothing_planned);
                let location = self.positions[position as usize].location;
                let index = match tally.iter().position(|(l, ..)| *l == location) {
                    Some(index) => index,
                    None => {
                        tally.push((location, 0, 0, 0));
                        tally.len() - 1
                    }
                };
                let entry = &mut tally[index];
                entry.1 += u32::from(room.units >= ask.requested);
                entry.2 = entry.2.saturating_add(room.units.min(ask.requested));
                entry.3 = entry.3.saturating_add(room.units);
            }
        }
        // Stable: ties keep the order the locations were first met in.
        tally.sort_by_key(|&(_, whole, given, room)| std::cmp::Reverse((whole, given, room)));
        tally.into_iter().map(|(location, ..)| location).collect()
    }

    /// Without a split, the candidate giving the most (the first on a tie).
    fn best<'r>(&self, rooms: &'r [Room]) -> Option<&'r Room> {
        rooms
            .iter()
            .fold(None, |best: Option<&Room>, room| match best {
                Some(b) if b.units >= room.units => Some(b),
                _ => Some(room),
            })
    }

    fn shortfall(&self, ask: &Ask<'_>, rooms: &[Room], allow_split: bool) -> Rejection {
        let best = self.best(rooms);
        let location = best.map_or_else(
            || ask.location.to_owned(),
            |r| {
                self.symbols
                    .name(self.positions[r.position as usize].location)
                    .to_string()
            },
        );
        if let Some((cap, committed)) = best.and_then(|r| r.capped) {
            return Rejection::ChannelCapReached {
                channel: ask.channel.to_owned(),
                sku: ask.sku.to_owned(),
                location,
                cap,
                committed,
                requested: ask.requested,
            };
        }
        let available = if allow_split {
            rooms.iter().map(|r| r.units).sum()
        } else {
            best.map_or(0, |r| r.units)
        };
        Rejection::InsufficientStock {
            sku: ask.sku.to_owned(),
            location,
            requested: ask.requested,
            available: i64::try_from(available).unwrap_or(i64::MAX),
        }
    }

    /// Units of a position the channel holds, has allocated or picked.
    fn channel_committed(&self, position: PositionIndex, channel: &str) -> u64 {
        self.symbols
            .get(channel)
            .and_then(|channel| self.channel_units.get(&(position, channel)))
            .copied()
            .unwrap_or(0)
    }
}
