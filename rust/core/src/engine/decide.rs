//! Guards: each command becomes a change, or a rejection with its facts.
//! Nothing here mutates the engine; `apply` does that, for live decisions and
//! replay alike.

use std::sync::Arc;

use smallvec::SmallVec;

use crate::command::{Command, LineRequest, Meta, Request};
use crate::error::Rejection;
use crate::event::{Change, LineMove, PlacedLine};
use crate::idempotency::ReservationSlot;
use crate::ids::{self, ReservationId};
use crate::limits;
use crate::position::PositionIndex;
use crate::reason::ReasonCode;
use crate::reservation::Reservation;
use crate::rules::{RuleSet, Strategy};
use crate::state::{Action, LineState};
use crate::symbols::Sym;

use super::placement::{plan, Ask, Planned};
use super::Engine;

type Decided = Result<(ReasonCode, Change), Rejection>;

impl Engine {
    /// The change a request makes, or why not, under ``rules`` (the active
    /// rule set, or a candidate being shadowed).
    pub(super) fn decide(&self, request: &Request, rules: &RuleSet) -> Decided {
        let now = request.meta.now;
        let tenant = request.meta.tenant.as_str();
        match &request.command {
            Command::Reserve {
                order_ref,
                channel,
                lines,
                hold_seconds,
                allow_partial,
                destination_region,
            } => self.decide_reserve(
                rules,
                &request.meta,
                order_ref,
                channel,
                lines,
                *hold_seconds,
                *allow_partial,
                destination_region,
            ),
            Command::Allocate {
                reservation_id,
                lines,
                ship_by,
            } => {
                let decided = self.decide_moves(
                    tenant,
                    reservation_id,
                    Action::Allocate,
                    lines,
                    Extras {
                        restock: false,
                        note: "",
                        as_of: None,
                    },
                )?;
                self.promise_ship_dates(rules, now, ship_by, decided)
            }
            Command::Release {
                reservation_id,
                note,
            } => self.decide_moves(
                tenant,
                reservation_id,
                Action::Release,
                &[],
                Extras {
                    restock: false,
                    note,
                    as_of: None,
                },
            ),
            Command::RenewHold {
                reservation_id,
                hold_seconds,
            } => self.decide_renewal(rules, now, tenant, reservation_id, *hold_seconds),
            Command::ConfirmPick {
                reservation_id,
                lines,
                as_of,
            } => {
                let as_of = Some(as_of.unwrap_or(now));
                self.decide_moves(
                    tenant,
                    reservation_id,
                    Action::Pick,
                    lines,
                    Extras {
                        restock: false,
                        note: "",
                        as_of,
                    },
                )
            }
            Command::Unpick {
                reservation_id,
                lines,
            } => {
                let as_of = Some(now);
                self.decide_moves(
                    tenant,
                    reservation_id,
                    Action::Unpick,
                    lines,
                    Extras {
                        restock: false,
                        note: "",
                        as_of,
                    },
                )
            }
            Command::ConfirmShipment {
                reservation_id,
                lines,
                as_of,
            } => {
                let as_of = Some(as_of.unwrap_or(now));
                self.decide_moves(
                    tenant,
                    reservation_id,
                    Action::Ship,
                    lines,
                    Extras {
                        restock: false,
                        note: "",
                        as_of,
                    },
                )
            }
            Command::RecordReturn {
                reservation_id,
                lines,
                restock,
                as_of,
            } => {
                let as_of = Some(as_of.unwrap_or(now));
                let action = Action::Return;
                self.decide_moves(
                    tenant,
                    reservation_id,
                    action,
                    lines,
                    Extras {
                        restock: *restock,
                        note: "",
                        as_of,
                    },
                )
            }
            Command::SetStock {
                sku,
                location,
                on_hand,
                source_sequence,
                as_of,
            } => self.decide_count(
                sku,
                location,
                *on_hand,
                *source_sequence,
                as_of.unwrap_or(now),
            ),
            Command::AdjustStock {
                sku,
                location,
                delta,
                adjustment_reason,
            } => self.decide_adjustment(sku, location, *delta, adjustment_reason),
            Command::SetSafetyStock {
                sku,
                location,
                quantity,
            } => self.decide_safety_stock(sku, location, *quantity),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn decide_reserve(
        &self,
        rules: &RuleSet,
        meta: &Meta,
        order_ref: &str,
        channel: &str,
        lines: &[LineRequest],
        hold_seconds: i64,
        allow_partial: bool,
        destination: &str,
    ) -> Decided {
        let (now, tenant) = (meta.now, meta.tenant.as_str());
        let holds = rules.holds_for(channel);
        if let Some(rejection) = too_long(rules, channel, hold_seconds) {
            return Err(rejection);
        }
        let mut planned = Planned::new();
        let mut placed = Vec::with_capacity(lines.len());
        let mut first_shortage = None;
        let groups = group_lines(lines);
        let preferred = self.preferred_locations(rules, &groups, channel, destination);
        for group in groups {
            let sku_sym = self
                .symbols
                .get(group.sku)
                .filter(|sym| self.sku_positions.contains_key(sym))
                .ok_or_else(|| Rejection::UnknownSku {
                    sku: group.sku.to_owned(),
                })?;
            let named = if group.location.is_empty() {
                None
            } else {
                let known = self
                    .symbols
                    .get(group.location)
                    .filter(|sym| self.locations.contains_key(sym))
                    .ok_or_else(|| Rejection::UnknownLocation {
                        location: group.location.to_owned(),
                    })?;
                self.position_index.get(&(sku_sym, known)).copied()
            };
            let ask = Ask {
                sku: group.sku,
                sku_sym,
                location: group.location,
                requested: group.total,
                channel,
                destination,
                preferred: &preferred,
            };
            let placement = self.place(rules, &ask, named, &planned);
            if let Some(shortfall) = placement.shortfall {
                first_shortage.get_or_insert(shortfall);
                if !allow_partial {
                    continue;
                }
            }
            // Hand the taken units to the group's lines in request order.
            let mut lines = group.lines.iter().map(|l| l.quantity);
            let mut line_left = lines.next().unwrap_or(0);
            for (position, units) in placement.takes {
                plan(&mut planned, position, units);
                let mut take_left = units;
                while take_left > 0 {
                    if line_left == 0 {
                        line_left = lines.next().expect("never more units than lines ask");
                    }
                    let quantity = line_left.min(take_left);
                    placed.push(PlacedLine {
                        sku: self
                            .symbols
                            .name(self.positions[position as usize].sku)
                            .clone(),
                        location: self.location_name(position).clone(),
                        quantity,
                    });
                    line_left -= quantity;
                    take_left -= quantity;
                }
            }
        }
        if let Some(shortage) = first_shortage.take() {
            if !allow_partial || placed.is_empty() {
                return Err(shortage);
            }
            first_shortage = Some(shortage);
        }
        self.check_quota(tenant, &placed)?;
        let hold_ms = if hold_seconds == 0 {
            holds.default_ms
        } else {
            hold_seconds.saturating_mul(1000)
        };
        let reason = if first_shortage.is_some() {
            ReasonCode::PARTIALLY_RESERVED
        } else {
            ReasonCode::RESERVED
        };
        Ok((
            reason,
            Change::HoldPlaced {
                reservation_id: ids::mint(now, self.config.node_id, self.minted + 1),
                order_ref: order_ref.to_owned(),
                channel: self.symbols.share(channel),
                expires_at: now.saturating_add(hold_ms),
                lines: placed,
                unverified: meta.unverified,
            },
        ))
    }

    pub(super) fn location_name(&self, position: PositionIndex) -> &Arc<str> {
        self.symbols
            .name(self.positions[position as usize].location)
    }

    /// The caller's reservation, or NOT_FOUND (also for another tenant's:
    /// its existence is not revealed).
    pub(super) fn reservation_for(
        &self,
        tenant: &str,
        reservation_id: &str,
    ) -> Result<(ReservationSlot, &Reservation), Rejection> {
        let not_found = || Rejection::ReservationNotFound {
            reservation_id: reservation_id.to_owned(),
        };
        let id: ReservationId = ids::parse(reservation_id).ok_or_else(not_found)?;
        let slot = self.slot_of(&id).ok_or_else(not_found)?;
        let reservation = &self.reservations[slot as usize];
        if &**self.symbols.name(reservation.tenant) != tenant {
            return Err(not_found());
        }
        Ok((slot, reservation))
    }

    /// No line can make the move: an expired hold says so, anything else is
    /// an invalid transition from the reservation's state.
    fn cannot(reservation: &Reservation, action: Action) -> Rejection {
        let from = reservation.state();
        if from == LineState::Expired {
            Rejection::ReservationExpired {
                reservation_id: reservation.id.to_string(),
                expired_at: reservation.expires_at,
            }
        } else {
            Rejection::InvalidTransition {
                reservation_id: reservation.id.to_string(),
                action,
                from,
            }
        }
    }

    /// Move lines of a reservation. Without lines, every line the action can
    /// move moves whole. With lines, exactly those units move (splitting a
    /// line where needed); an allocation then releases whatever is still held.
    fn decide_moves(
        &self,
        tenant: &str,
        reservation_id: &str,
        action: Action,
        lines: &[LineRequest],
        extras: Extras<'_>,
    ) -> Decided {
        let Extras {
            restock,
            note,
            as_of,
        } = extras;
        let (_, reservation) = self.reservation_for(tenant, reservation_id)?;
        let step = action
            .line_transition()
            .expect("decide_moves is only called with line actions");
        let eligible = |line: &crate::reservation::Line| step(line.state).is_some();
        if !reservation.lines.iter().any(eligible) {
            return Err(Self::cannot(reservation, action));
        }
        // Units each line gives up in this change.
        let mut taken: SmallVec<[u64; 4]> = SmallVec::from_elem(0, reservation.lines.len());
        let mut moves = Vec::new();
        if lines.is_empty() {
            for (i, line) in reservation.lines.iter().enumerate() {
                if let Some(to) = step(line.state) {
                    moves.push(self.line_move(i, line, line.quantity, to));
                    taken[i] = line.quantity;
                }
            }
        } else {
            for group in group_lines(lines) {
                let matches = |line: &crate::reservation::Line| {
                    let position = &self.positions[line.position as usize];
                    eligible(line)
                        && &**self.symbols.name(position.sku) == group.sku
                        && (group.location.is_empty()
                            || &**self.symbols.name(position.location) == group.location)
                };
                let held: u64 = reservation
                    .lines
                    .iter()
                    .enumerate()
                    .filter(|(_, line)| matches(line))
                    .map(|(i, line)| line.quantity - taken[i])
                    .sum();
                if held < group.total {
                    return Err(Rejection::QuantityExceedsReservation {
                        reservation_id: reservation_id.to_owned(),
                        action,
                        sku: group.sku.to_owned(),
                        location: group.location.to_owned(),
                        requested: group.total,
                        eligible: held,
                    });
                }
                let mut left = group.total;
                for (i, line) in reservation.lines.iter().enumerate() {
                    if left == 0 {
                        break;
                    }
                    if !matches(line) || line.quantity == taken[i] {
                        continue;
                    }
                    let quantity = (line.quantity - taken[i]).min(left);
                    left -= quantity;
                    taken[i] += quantity;
                    let to = step(line.state).expect("matched lines are eligible");
                    moves.push(self.line_move(i, line, quantity, to));
                }
            }
            if action == Action::Allocate {
                for (i, line) in reservation.lines.iter().enumerate() {
                    if line.state == LineState::Reserved && taken[i] < line.quantity {
                        let rest = line.quantity - taken[i];
                        moves.push(self.line_move(i, line, rest, LineState::Released));
                    }
                }
            }
        }
        self.check_physical_effects(reservation, action, &moves, restock)?;
        let reason = match action {
            Action::Allocate => ReasonCode::ALLOCATED,
            Action::Release => ReasonCode::RELEASED,
            Action::Pick => ReasonCode::PICKED,
            Action::Unpick => ReasonCode::UNPICKED,
            Action::Ship => ReasonCode::SHIPPED,
            Action::Return => ReasonCode::RETURNED,
            Action::Expire => ReasonCode::HOLD_EXPIRED,
            Action::Reserve
            | Action::RenewHold
            | Action::SetStock
            | Action::AdjustStock
            | Action::SetSafetyStock => unreachable!("not a line move: {action}"),
        };
        Ok((
            reason,
            Change::LinesMoved {
                reservation_id: reservation.id,
                action,
                moves,
                restock,
                note: note.to_owned(),
                as_of,
            },
        ))
    }

    /// Shipping takes units off the shelf and restocking puts them back:
    /// neither may take on hand below zero or past its largest value.
    fn check_physical_effects(
        &self,
        reservation: &Reservation,
        action: Action,
        moves: &[LineMove],
        restock: bool,
    ) -> Result<(), Rejection> {
        let shipping = action == Action::Ship;
        let restocking = action == Action::Return && restock;
        if !shipping && !restocking {
            return Ok(());
        }
        let mut per_position = Planned::new();
        for m in moves {
            plan(
                &mut per_position,
                reservation.lines[m.line as usize].position,
                m.quantity,
            );
        }
        for (position, units) in per_position {
            let p = &self.positions[position as usize];
            let sku = || self.symbols.name(p.sku).to_string();
            let location = || self.symbols.name(p.location).to_string();
            if shipping && p.on_hand < units {
                return Err(Rejection::InsufficientOnHand {
                    sku: sku(),
                    location: location(),
                    on_hand: p.on_hand,
                    delta: -i64::try_from(units).unwrap_or(i64::MAX),
                });
            }
            let over_limit = p
                .on_hand
                .checked_add(units)
                .is_none_or(|after| after > limits::MAX_ON_HAND);
            if restocking && over_limit {
                return Err(Rejection::QuantityOverflow {
                    sku: sku(),
                    location: location(),
                    bucket: "on_hand".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Move `quantity` units of line `index` to `to`, naming the line's position.
    pub(super) fn line_move(
        &self,
        index: usize,
        line: &crate::reservation::Line,
        quantity: u64,
        to: LineState,
    ) -> LineMove {
        let position = &self.positions[line.position as usize];
        LineMove {
            line: index as u32,
            sku: self.symbols.name(position.sku).clone(),
            location: self.symbols.name(position.location).clone(),
            quantity,
            to,
        }
    }

    fn decide_renewal(
        &self,
        rules: &RuleSet,
        now: i64,
        tenant: &str,
        reservation_id: &str,
        hold_seconds: i64,
    ) -> Decided {
        let (_, reservation) = self.reservation_for(tenant, reservation_id)?;
        if !reservation
            .lines
            .iter()
            .any(|line| line.state.renew().is_some())
        {
            return Err(Self::cannot(reservation, Action::RenewHold));
        }
        let channel = self.symbols.name(reservation.channel);
        let holds = rules.holds_for(channel);
        if let Some(rejection) = too_long(rules, channel, hold_seconds) {
            return Err(rejection);
        }
        let hold_ms = if hold_seconds == 0 {
            holds.default_ms
        } else {
            hold_seconds.saturating_mul(1000)
        };
        Ok((
            ReasonCode::HOLD_RENEWED,
            Change::HoldRenewed {
                reservation_id: reservation.id,
                expires_at: now.saturating_add(hold_ms),
            },
        ))
    }

    /// The reason an applied warehouse fact gets: OVERCOMMITTED when it leaves
    /// commitments above what is there.
    fn fact_reason(
        &self,
        sku: &str,
        location: &str,
        on_hand: u64,
        safety_stock: Option<u64>,
        accepted: ReasonCode,
    ) -> ReasonCode {
        let current = self
            .position_of(sku, location)
            .map(|p| &self.positions[p as usize]);
        let committed = current.map_or(0, |p| p.committed());
        let safety_stock = safety_stock
            .or(current.map(|p| p.safety_stock))
            .unwrap_or(0);
        if i128::from(on_hand) - committed - i128::from(safety_stock) < 0 {
            ReasonCode::OVERCOMMITTED
        } else {
            accepted
        }
    }

    fn decide_count(
        &self,
        sku: &str,
        location: &str,
        on_hand: u64,
        source_sequence: u64,
        as_of: i64,
    ) -> Decided {
        if let Some(position) = self.position_of(sku, location) {
            if let Some(applied) = self.positions[position as usize].source_sequence {
                if source_sequence <= applied {
                    return Err(Rejection::StaleUpdate {
                        sku: sku.to_owned(),
                        location: location.to_owned(),
                        source_sequence,
                        applied_sequence: applied,
                    });
                }
            }
        }
        Ok((
            self.fact_reason(sku, location, on_hand, None, ReasonCode::STOCK_SET),
            Change::StockCounted {
                sku: self.symbols.share(sku),
                location: self.symbols.share(location),
                on_hand,
                source_sequence,
                as_of,
            },
        ))
    }

    fn decide_adjustment(&self, sku: &str, location: &str, delta: i64, reason: &str) -> Decided {
        let on_hand = self
            .position_of(sku, location)
            .map_or(0, |p| self.positions[p as usize].on_hand);
        let after = i128::from(on_hand) + i128::from(delta);
        if after < 0 {
            return Err(Rejection::InsufficientOnHand {
                sku: sku.to_owned(),
                location: location.to_owned(),
                on_hand,
                delta,
            });
        }
        let after = u64::try_from(after)
            .ok()
            .filter(|after| *after <= limits::MAX_ON_HAND)
            .ok_or_else(|| Rejection::QuantityOverflow {
                sku: sku.to_owned(),
                location: location.to_owned(),
                bucket: "on_hand".to_owned(),
            })?;
        Ok((
            self.fact_reason(sku, location, after, None, ReasonCode::STOCK_ADJUSTED),
            Change::StockAdjusted {
                sku: self.symbols.share(sku),
                location: self.symbols.share(location),
                delta,
                adjustment_reason: reason.to_owned(),
            },
        ))
    }

    fn decide_safety_stock(&self, sku: &str, location: &str, quantity: u64) -> Decided {
        let on_hand = self
            .position_of(sku, location)
            .map_or(0, |p| self.positions[p as usize].on_hand);
        Ok((
            self.fact_reason(
                sku,
                location,
                on_hand,
                Some(quantity),
                ReasonCode::SAFETY_STOCK_SET,
            ),
            Change::SafetyStockSet {
                sku: self.symbols.share(sku),
                location: self.symbols.share(location),
                quantity,
            },
        ))
    }
}

/// What a line move carries besides its lines.
struct Extras<'a> {
    /// Returned units go back on hand.
    restock: bool,
    /// Why, for the history (release).
    note: &'a str,
    /// The warehouse's time of the fact (warehouse-owned moves only).
    as_of: Option<i64>,
}

/// A hold longer than the rules let the channel ask for, as INVALID_ARGUMENT
/// naming the field (and the channel, when it has hold times of its own).
fn too_long(rules: &RuleSet, channel: &str, hold_seconds: i64) -> Option<Rejection> {
    let max_s = rules.holds_for(channel).max_ms / 1000;
    if hold_seconds <= max_s {
        return None;
    }
    let whose = if rules.channel_holds.contains_key(channel) {
        format!(" for channel {channel:?}")
    } else {
        String::new()
    };
    Some(Rejection::invalid(
        "hold_seconds",
        format!("must be at most {max_s} seconds{whose}"),
    ))
}

/// Lines of one request that name the same SKU and location, with their total.
struct LineGroup<'a> {
    sku: &'a str,
    location: &'a str,
    total: u64,
    lines: SmallVec<[&'a LineRequest; 2]>,
}

impl Engine {
    /// The locations `fewest_splits` prefers for this request (none under
    /// the other strategies, which order each line on its own).
    fn preferred_locations(
        &self,
        rules: &RuleSet,
        groups: &[LineGroup<'_>],
        channel: &str,
        destination: &str,
    ) -> SmallVec<[Sym; 4]> {
        if !matches!(rules.allocation.strategy, Strategy::FewestSplits) {
            return SmallVec::new();
        }
        let asks: SmallVec<[Ask<'_>; 2]> = groups
            .iter()
            .filter(|g| g.location.is_empty())
            .filter_map(|g| {
                let sku_sym = self
                    .symbols
                    .get(g.sku)
                    .filter(|sym| self.sku_positions.contains_key(sym))?;
                Some(Ask {
                    sku: g.sku,
                    sku_sym,
                    location: g.location,
                    requested: g.total,
                    channel,
                    destination,
                    preferred: &[],
                })
            })
            .collect();
        self.split_ranking(rules, &asks)
    }
}

/// Group a request's lines by (SKU, location), in order of first appearance.
/// Totals cannot overflow: lines are at most MAX_LINES of MAX_LINE_QUANTITY.
fn group_lines(lines: &[LineRequest]) -> SmallVec<[LineGroup<'_>; 2]> {
    let mut groups: SmallVec<[LineGroup<'_>; 2]> = SmallVec::new();
    for line in lines {
        match groups
            .iter_mut()
            .find(|g| g.sku == line.sku && g.location == line.location)
        {
            Some(group) => {
                group.total += line.quantity;
                group.lines.push(line);
            }
            None => groups.push(LineGroup {
                sku: &line.sku,
                location: &line.location,
                total: line.quantity,
                lines: smallvec::smallvec![line],
            }),
        }
    }
    groups
}
